//! Fixed-base multiplication `k·G` with a precomputed table.
//!
//! The scalar is first made odd: `k` itself, or `n − k` when `k` is even
//! (`n` is odd), the result then negated back. An odd scalar has a regular
//! signed recoding (Joye and Tunstall) into 43 digits of `W = 6` bits, every
//! one of them odd, so never zero: `k = Σ dᵢ·2⁶ⁱ` with
//! `dᵢ ∈ {±1, ±3, …, ±63}` and the last digit in `1..=15`. Digit `i` is
//! bits `6i + 1 .. 6i + 6` of `k` over a set low bit, minus 64 (digit 0:
//! the low 7 bits minus 64), so the recoding is bit extraction without
//! carries. Window `i` has its own table of the 32 affine points `j·2⁶ⁱ·G`
//! (`j = 1, 3, …, 63`), so `k·G` is 42 mixed additions and no doubling. The
//! 1 376 table points (86 KiB) are built once, lazily, with a single batch
//! inversion.
//!
//! No digit is zero, so neither a table point nor the accumulator is ever
//! the point at infinity, and the additions need no masks for it (signed
//! digits with zeros, as in OpenSSL's Booth recoding, cost two masked
//! selections of a whole point per addition).
//!
//! Why 6 bits: a constant-time lookup reads the whole window, so its cost
//! doubles with each bit while the number of additions falls only as
//! `1/W`. Measured on one machine (`perf stat` CPU time of 10 000 `k·G`, best
//! of six): 7-bit windows (OpenSSL's choice for P-256, whose lookups use AVX2)
//! took 5 % longer than 6 bits, 5-bit windows 9 % longer.
//!
//! Constant time: every lookup reads all 32 entries of the window and keeps
//! the wanted one with masks; the sign of each digit, and the final
//! negation, are masked negations; the choice between `k` and `n − k` is a
//! masked selection.
//!
//! The mixed addition is not valid for equal inputs, but that cannot occur:
//! before window `i` the accumulator is `A·G` with `A` odd and
//! `|A| ≤ 63·(1 + 2⁶ + … + 2⁶⁽ⁱ⁻¹⁾) < 2⁶ⁱ ≤ |dᵢ|·2⁶ⁱ = |B|`, so `A ≠ ±B`
//! as integers, and `|A ± B| < 2⁶⁽ⁱ⁺¹⁾ ≤ 2²⁵² < n` for every window but the
//! last, so not modulo `n` either. The last addition uses the doubling-aware
//! [`JacobianPoint::add_mixed_complete_ct`]; it costs one doubling.

use crate::field::FieldElement;
use crate::limbs::{self, Limbs};
use crate::point::{AffinePoint, JacobianPoint, batch_to_affine};
use crate::scalar::{N, Scalar};
use std::sync::OnceLock;
use zeroize::Zeroize;

/// Window width in bits.
pub(crate) const W: usize = 6;
/// Number of windows: `⌈256 / W⌉`.
pub(crate) const WINDOWS: usize = 256_usize.div_ceil(W);
/// Entries per window: the odd multiples `1, 3, …, 2^W − 1`.
const ENTRIES: usize = 1 << (W - 1);

/// One table entry: the Montgomery limbs `x₀..x₃, y₀..y₃` as four pairs,
/// aligned to a cache line so that each pair is one aligned 128-bit load.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
pub(crate) struct Entry([[u64; 2]; 4]);

impl Entry {
    fn to_affine(self) -> AffinePoint {
        let [[x0, x1], [x2, x3], [y0, y1], [y2, y3]] = self.0;
        AffinePoint {
            x: FieldElement([x0, x1, x2, x3]),
            y: FieldElement([y0, y1, y2, y3]),
        }
    }
}

/// One window's table: `j·2⁶ⁱ·G` for `j = 1, 3, …, 63`.
pub(crate) type Window = [Entry; ENTRIES];

static TABLE: OnceLock<Vec<Window>> = OnceLock::new();

/// The precomputed table (built on first use).
pub(crate) fn table() -> &'static [Window] {
    TABLE.get_or_init(|| build_table(&AffinePoint::GENERATOR))
}

/// The windows of multiples of `point` laid out as the generator's table:
/// window `i` holds `j·2⁶ⁱ·point` for `j = 1, 3, …, 63`. `point` must be a
/// finite point of order `n` (any point on the curve but infinity: the
/// cofactor is 1), so that the additions of [`mul_vartime`] never meet the
/// cases the module documentation rules out.
pub(crate) fn build_table(point: &AffinePoint) -> Vec<Window> {
    let mut all = Vec::with_capacity(WINDOWS * ENTRIES);
    let mut base = JacobianPoint::from(point);
    for _ in 0..WINDOWS {
        let twice = base.double();
        let mut p = base;
        all.push(p);
        for _ in 1..ENTRIES {
            p = p.add_vartime(&twice);
            all.push(p);
        }
        // 2^W·base = (2^W − 1)·base + base.
        base = p.add_vartime(&base);
    }
    let affine = batch_to_affine(&all);
    affine
        .chunks_exact(ENTRIES)
        .map(|c| {
            let mut w = [Entry::default(); ENTRIES];
            for (dst, p) in w.iter_mut().zip(c) {
                let ([x0, x1, x2, x3], [y0, y1, y2, y3]) = (p.x.0, p.y.0);
                *dst = Entry([[x0, x1], [x2, x3], [y0, y1], [y2, y3]]);
            }
            w
        })
        .collect()
}

/// `k` made odd: `k` itself, or `n − k` when `k` is even, with a mask of all
/// ones in the second case (the product must then be negated).
#[inline(always)]
pub(crate) fn odd_form(k: &Limbs) -> (Limbs, u64) {
    let even = core::hint::black_box((k[0] & 1).wrapping_sub(1));
    let (n_minus_k, _) = limbs::sub(&N, k);
    (limbs::select(k, &n_minus_k, even), even)
}

/// `W` bits of `k` from bit `start` on (bits past 255 read as zero).
#[inline(always)]
fn bits(k: &Limbs, start: usize) -> u64 {
    let limb = start / 64;
    let off = start % 64;
    let lo = if limb < 4 { k[limb] >> off } else { 0 };
    let hi = if off + W > 64 && limb + 1 < 4 {
        k[limb + 1] << (64 - off)
    } else {
        0
    };
    (lo | hi) & ((1 << W) - 1)
}

/// Digit `i` of an odd `k` as (sign mask, table index `(|dᵢ| − 1) / 2`).
///
/// The recoding takes `t₀` = the low `W + 1` bits of `k` and, for `i > 0`,
/// `tᵢ` = bits `W·i + 1 .. W·i + W` shifted up over a set bit 0 (what is left
/// of the scalar after each digit is again odd); `dᵢ = tᵢ − 2^W`, except the
/// last digit, which is `tᵢ` itself. Branch-free on `k`; `i` is public.
#[inline(always)]
pub(crate) fn odd_digit(k: &Limbs, i: usize) -> (u64, u64) {
    let t = if i == 0 {
        k[0] & ((1 << (W + 1)) - 1)
    } else {
        (bits(k, W * i + 1) << 1) | 1
    };
    if i == WINDOWS - 1 {
        return (0, t >> 1);
    }
    // All ones when t < 2^W, i.e. the digit is negative.
    let negative = ((t >> W) & 1).wrapping_sub(1);
    let d = t.wrapping_sub(1 << W);
    let magnitude = (d ^ negative).wrapping_sub(negative);
    (negative, magnitude >> 1)
}

/// Reads entry `index` of a window by scanning all entries.
///
/// The selection masks are computed first and passed through
/// `black_box`, so the compiler cannot see that exactly one of them is set:
/// left to itself, LLVM turns `entry & mask` over a compare-derived mask back
/// into a branch on the secret index (observed in the generated code).
/// Each mask is stored twice and the entries are read as limb pairs, so the
/// loop compiles to 128-bit `pand`/`por` on aligned loads (half the
/// instructions of the 64-bit loop).
#[inline(always)]
fn lookup_ct(window: &Window, index: u64) -> AffinePoint {
    let mut masks = [[0u64; 2]; ENTRIES];
    for (j, m) in masks.iter_mut().enumerate() {
        let bit = limbs::is_zero_mask(j as u64 ^ index);
        *m = [bit, bit];
    }
    // Opaque through a reference: no copy of the array is made.
    core::hint::black_box(&mut masks);
    let mut acc = Entry::default();
    for (e, m) in window.iter().zip(masks.iter()) {
        for (a, l) in acc.0.iter_mut().zip(&e.0) {
            a[0] |= l[0] & m[0];
            a[1] |= l[1] & m[1];
        }
    }
    acc.to_affine()
}

/// The signed table point for digit `i` of the odd `k`.
#[inline(always)]
fn digit_point_ct(t: &Window, k: &Limbs, i: usize) -> AffinePoint {
    let (negative, index) = odd_digit(k, i);
    let p = lookup_ct(t, index);
    // Opaque mask: keep the sign out of branch conditions.
    let negative = core::hint::black_box(negative);
    AffinePoint {
        x: p.x,
        y: FieldElement::select_mask(&p.y, &p.y.neg(), negative),
    }
}

/// `k·G` in constant time.
pub fn mul_base(k: &Scalar) -> JacobianPoint {
    let t = table();
    let mut canonical = k.to_canonical();
    let (mut odd, negate) = odd_form(&canonical);
    canonical.zeroize();
    let mut acc = JacobianPoint::from(&digit_point_ct(&t[0], &odd, 0));
    for (i, win) in t.iter().enumerate().take(WINDOWS - 1).skip(1) {
        acc = acc.add_mixed_ct(&digit_point_ct(win, &odd, i));
    }
    let last = digit_point_ct(&t[WINDOWS - 1], &odd, WINDOWS - 1);
    odd.zeroize();
    acc.add_mixed_complete_ct(&last).negate_if(negate)
}

/// `k·G` in variable time (public scalars only, e.g. verification).
pub fn mul_base_vartime(k: &Scalar) -> JacobianPoint {
    mul_vartime(table(), k)
}

/// `k·P` in variable time from the table of `P` ([`build_table`]): 42 mixed
/// additions, no doubling (public scalars only).
pub(crate) fn mul_vartime(windows: &[Window], k: &Scalar) -> JacobianPoint {
    let (odd, negate) = odd_form(&k.to_canonical());
    let mut acc = JacobianPoint::IDENTITY;
    for (i, win) in windows.iter().enumerate() {
        let (negative, index) = odd_digit(&odd, i);
        let e = win[index as usize].to_affine();
        acc = acc.add_mixed_vartime(&if negative != 0 { e.neg() } else { e });
    }
    if negate != 0 { acc.neg() } else { acc }
}
