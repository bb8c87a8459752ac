//! Variable-time `u1·G + u2·Q` for signature verification (public inputs).
//!
//! `u1·G` reuses the fixed-base table (42 mixed additions, direct indexing);
//! `u2·Q` uses a width-6 non-adjacent form over a per-key table of the odd
//! multiples `Q, 3Q, …, 31Q` in affine coordinates (built once when the
//! verifying key is made), so it costs 256 doublings and about 37 mixed
//! additions. A key that verifies many signatures (a CA checking its own)
//! can have a whole table of its multiples instead, laid out as the
//! generator's ([`crate::fixed_base::build_table`]): `u2·Q` is then 42
//! mixed additions and no doubling ([`mul_double_tables_vartime`]).

use crate::fixed_base::{Window, mul_base_vartime, mul_vartime};
use crate::limbs::Limbs;
use crate::point::{AffinePoint, JacobianPoint, batch_to_affine};
use crate::scalar::Scalar;

/// wNAF window width for the variable base.
const W: u32 = 6;
/// Number of odd multiples in the per-key table.
pub(crate) const ODD_MULTIPLES: usize = 1 << (W - 2);

/// The affine odd multiples `Q, 3Q, …, (2^(W−1) − 1)Q` of a finite point.
pub(crate) fn odd_multiples(q: &AffinePoint) -> [AffinePoint; ODD_MULTIPLES] {
    let qj = JacobianPoint::from(q);
    let q2 = qj.double();
    let mut pts = Vec::with_capacity(ODD_MULTIPLES);
    let mut p = qj;
    pts.push(p);
    for _ in 1..ODD_MULTIPLES {
        p = p.add_vartime(&q2);
        pts.push(p);
    }
    let aff = batch_to_affine(&pts);
    let mut out = [AffinePoint::default(); ODD_MULTIPLES];
    out.copy_from_slice(&aff);
    out
}

/// Width-`W` non-adjacent form of a 256-bit value: odd digits in
/// `(−2^(W−1), 2^(W−1))`, any two non-zero digits at least `W` apart.
fn wnaf(k: &Limbs) -> [i8; 257] {
    let mut x = [k[0], k[1], k[2], k[3], 0u64];
    let mut out = [0i8; 257];
    let mut i = 0;
    while x.iter().any(|&l| l != 0) && i < out.len() {
        if x[0] & 1 == 1 {
            let m = (x[0] & ((1 << W) - 1)) as i64;
            let d = if m >= 1 << (W - 1) { m - (1 << W) } else { m };
            out[i] = d as i8;
            // x −= d (as a multi-limb value).
            if d > 0 {
                let mut borrow = d as u64;
                for l in x.iter_mut() {
                    let (v, b) = l.overflowing_sub(borrow);
                    *l = v;
                    borrow = b as u64;
                }
            } else {
                let mut carry = (-d) as u64;
                for l in x.iter_mut() {
                    let (v, c) = l.overflowing_add(carry);
                    *l = v;
                    carry = c as u64;
                }
            }
        }
        // x >>= 1
        for j in 0..4 {
            x[j] = (x[j] >> 1) | (x[j + 1] << 63);
        }
        x[4] >>= 1;
        i += 1;
    }
    out
}

/// `u1·G + u2·Q` in variable time, `q_odd` from [`odd_multiples`].
pub(crate) fn mul_double_vartime(
    u1: &Scalar,
    u2: &Scalar,
    q_odd: &[AffinePoint; ODD_MULTIPLES],
) -> JacobianPoint {
    let digits = wnaf(&u2.to_canonical());
    let top = digits.iter().rposition(|&d| d != 0);
    let mut acc = JacobianPoint::IDENTITY;
    if let Some(top) = top {
        for &d in digits[..=top].iter().rev() {
            acc = acc.double();
            if d > 0 {
                acc = acc.add_mixed_vartime(&q_odd[(d as usize) / 2]);
            } else if d < 0 {
                acc = acc.add_mixed_vartime(&q_odd[((-d) as usize) / 2].neg());
            }
        }
    }
    acc.add_vartime(&mul_base_vartime(u1))
}

/// `u1·G + u2·Q` in variable time, `q_table` the table of `Q`.
pub(crate) fn mul_double_tables_vartime(
    u1: &Scalar,
    u2: &Scalar,
    q_table: &[Window],
) -> JacobianPoint {
    mul_vartime(q_table, u2).add_vartime(&mul_base_vartime(u1))
}
