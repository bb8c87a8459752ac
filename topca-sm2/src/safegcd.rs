//! Constant-time modular inversion by Bernstein–Yang "safegcd" divsteps,
//! in the form of libsecp256k1's `modinv64` (signed 62-bit limbs, batches of
//! 59 divsteps, 10 batches = 590 divsteps, enough for any 256-bit modulus).
//!
//! Each batch computes a 2×2 transition matrix from the low 64 bits of
//! `f` and `g` with branch-free steps, then applies it to the full-size
//! `f, g` and to the Bézout coefficients `d, e` (kept modulo the modulus
//! with a Montgomery-like correction). The number of steps is fixed, every
//! step runs the same instructions, and no memory index depends on the input.

/// 62 low bits.
const M62: u64 = u64::MAX >> 2;

/// A number as five signed 62-bit limbs: `Σ v[i]·2^(62·i)`.
type Signed62 = [i64; 5];

/// The modulus in signed-62 form and its inverse modulo `2⁶²`.
pub(crate) struct ModInfo {
    pub(crate) modulus: Signed62,
    pub(crate) modulus_inv62: u64,
}

/// The 2×2 transition matrix of a batch, scaled by `2⁶²`.
struct Trans {
    u: i64,
    v: i64,
    q: i64,
    r: i64,
}

/// 59 divsteps on the low bits of `f` and `g`; returns the new `zeta`.
fn divsteps_59(mut zeta: i64, f0: u64, g0: u64, t: &mut Trans) -> i64 {
    // The matrix starts as 8·identity so that it ends scaled by 2^62.
    let (mut u, mut v, mut q, mut r) = (8u64, 0u64, 0u64, 8u64);
    let (mut f, mut g) = (f0, g0);
    for _ in 3..62 {
        // Masks for zeta < 0 and for g odd.
        let c1 = (zeta >> 63) as u64;
        let c2 = (g & 1).wrapping_neg();
        // Conditionally negated copies of f, u, v.
        let x = (f ^ c1).wrapping_sub(c1);
        let y = (u ^ c1).wrapping_sub(c1);
        let z = (v ^ c1).wrapping_sub(c1);
        // If g is odd, add them to g, q, r.
        g = g.wrapping_add(x & c2);
        q = q.wrapping_add(y & c2);
        r = r.wrapping_add(z & c2);
        // Both conditions: swap roles (zeta → −zeta − 2) else zeta → zeta − 1.
        let c = c1 & c2;
        zeta = (zeta ^ c as i64).wrapping_sub(1);
        f = f.wrapping_add(g & c);
        u = u.wrapping_add(q & c);
        v = v.wrapping_add(r & c);
        g >>= 1;
        u <<= 1;
        v <<= 1;
    }
    *t = Trans {
        u: u as i64,
        v: v as i64,
        q: q as i64,
        r: r as i64,
    };
    zeta
}

#[inline(always)]
fn mul(a: i64, b: i64) -> i128 {
    i128::from(a) * i128::from(b)
}

/// `[d, e] = t·[d, e] / 2⁶²` modulo the modulus (inputs and outputs in `(−2m, m)`).
fn update_de(d: &mut Signed62, e: &mut Signed62, t: &Trans, m: &ModInfo) {
    let (u, v, q, r) = (t.u, t.v, t.q, t.r);
    let sd = d[4] >> 63;
    let se = e[4] >> 63;
    let mut md = (u & sd).wrapping_add(v & se);
    let mut me = (q & sd).wrapping_add(r & se);
    let mut cd = mul(u, d[0]) + mul(v, e[0]);
    let mut ce = mul(q, d[0]) + mul(r, e[0]);
    // Choose md, me so that the low 62 bits of t·[d,e] + m·[md,me] vanish.
    md = md.wrapping_sub(
        (m.modulus_inv62
            .wrapping_mul(cd as u64)
            .wrapping_add(md as u64)
            & M62) as i64,
    );
    me = me.wrapping_sub(
        (m.modulus_inv62
            .wrapping_mul(ce as u64)
            .wrapping_add(me as u64)
            & M62) as i64,
    );
    cd += mul(m.modulus[0], md);
    ce += mul(m.modulus[0], me);
    cd >>= 62;
    ce >>= 62;
    for i in 1..5 {
        cd += mul(u, d[i]) + mul(v, e[i]) + mul(m.modulus[i], md);
        ce += mul(q, d[i]) + mul(r, e[i]) + mul(m.modulus[i], me);
        d[i - 1] = (cd as u64 & M62) as i64;
        e[i - 1] = (ce as u64 & M62) as i64;
        cd >>= 62;
        ce >>= 62;
    }
    d[4] = cd as i64;
    e[4] = ce as i64;
}

/// `[f, g] = t·[f, g] / 2⁶²` (exact).
fn update_fg(f: &mut Signed62, g: &mut Signed62, t: &Trans) {
    let (u, v, q, r) = (t.u, t.v, t.q, t.r);
    let mut cf = mul(u, f[0]) + mul(v, g[0]);
    let mut cg = mul(q, f[0]) + mul(r, g[0]);
    cf >>= 62;
    cg >>= 62;
    for i in 1..5 {
        cf += mul(u, f[i]) + mul(v, g[i]);
        cg += mul(q, f[i]) + mul(r, g[i]);
        f[i - 1] = (cf as u64 & M62) as i64;
        g[i - 1] = (cg as u64 & M62) as i64;
        cf >>= 62;
        cg >>= 62;
    }
    f[4] = cf as i64;
    g[4] = cg as i64;
}

/// Brings `r ∈ (−2m, m)` into `[0, m)`, negating first if `sign < 0`.
///
/// The masks go through `black_box`: otherwise LLVM turns these masked
/// additions into branches on the sign (observed in the generated code).
fn normalize(r: &mut Signed62, sign: i64, m: &ModInfo) {
    let add = core::hint::black_box(r[4] >> 63);
    for (x, mi) in r.iter_mut().zip(m.modulus) {
        *x = x.wrapping_add(mi & add);
    }
    let neg = core::hint::black_box(sign >> 63);
    for x in r.iter_mut() {
        *x = (*x ^ neg).wrapping_sub(neg);
    }
    carry(r);
    let add = core::hint::black_box(r[4] >> 63);
    for (x, mi) in r.iter_mut().zip(m.modulus) {
        *x = x.wrapping_add(mi & add);
    }
    carry(r);
}

/// Propagates signed carries so limbs 0..3 are in `[0, 2⁶²)`.
fn carry(r: &mut Signed62) {
    for i in 0..4 {
        r[i + 1] = r[i + 1].wrapping_add(r[i] >> 62);
        r[i] &= M62 as i64;
    }
}

/// Converts 4×64-bit limbs (a value below `2²⁵⁶`) to signed-62 form.
pub(crate) const fn to_signed62(a: &[u64; 4]) -> Signed62 {
    [
        (a[0] & M62) as i64,
        (((a[0] >> 62) | (a[1] << 2)) & M62) as i64,
        (((a[1] >> 60) | (a[2] << 4)) & M62) as i64,
        (((a[2] >> 58) | (a[3] << 6)) & M62) as i64,
        (a[3] >> 56) as i64,
    ]
}

/// Converts a normalized signed-62 value back to 4×64-bit limbs.
fn from_signed62(v: &Signed62) -> [u64; 4] {
    let v = v.map(|x| x as u64);
    [
        v[0] | (v[1] << 62),
        (v[1] >> 2) | (v[2] << 60),
        (v[2] >> 4) | (v[3] << 58),
        (v[3] >> 6) | (v[4] << 56),
    ]
}

/// `x⁻¹ mod m` for `x < m` (zero maps to zero), in constant time.
pub(crate) fn invert(x: &[u64; 4], m: &ModInfo) -> [u64; 4] {
    let mut d: Signed62 = [0; 5];
    let mut e: Signed62 = [1, 0, 0, 0, 0];
    let mut f = m.modulus;
    let mut g = to_signed62(x);
    let mut zeta = -1i64;
    let mut t = Trans {
        u: 0,
        v: 0,
        q: 0,
        r: 0,
    };
    for _ in 0..10 {
        zeta = divsteps_59(zeta, f[0] as u64, g[0] as u64, &mut t);
        update_de(&mut d, &mut e, &t, m);
        update_fg(&mut f, &mut g, &t);
    }
    // f is now ±1 (for x ≠ 0); its sign says whether to negate d.
    normalize(&mut d, f[4], m);
    from_signed62(&d)
}
