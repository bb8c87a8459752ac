//! Fixed-base multiplication `k·G` with a precomputed table.
//!
//! The scalar is recoded into 43 signed ("Booth") digits of `W = 6` bits,
//! `k = Σ dᵢ·2⁶ⁱ` with `dᵢ ∈ [−32, 32]`. Window `i` has its own table of the
//! 32 affine points `j·2⁶ⁱ·G` (`j = 1..32`), so `k·G` is 42 mixed additions
//! and no doubling at all. The 1 376 table points (86 KiB) are built once,
//! lazily, with a single batch inversion.
//!
//! Why 6 bits: a constant-time lookup reads the whole window, so its cost
//! doubles with each bit while the number of additions falls only as
//! `1/W`. Measured on one machine (`perf stat` CPU time of 10 000 `k·G`, best
//! of six): 7-bit windows (OpenSSL's choice for P-256, whose lookups use AVX2)
//! took 5 % longer than 6 bits, 5-bit windows 9 % longer.
//!
//! Constant time: every lookup reads all 32 entries of the window and keeps
//! the wanted one with masks; the sign is applied by a masked negation; a zero
//! digit (point at infinity) and an infinite accumulator are handled with
//! masks in [`JacobianPoint::add_mixed_ct`].
//!
//! The mixed addition is not valid for equal inputs, but that cannot occur:
//! before window `i` the accumulator is `A·G` with `|A| < 2⁶ⁱ ≤ |dᵢ|·2⁶ⁱ = |B|`,
//! so `A = ±B` is impossible as integers, and `A ≡ ±B (mod n)` with
//! `A ≠ ±B` needs `|A ∓ B| ≥ n`, which only the last window could reach and
//! which would force `k = A + B` outside `[0, n)` (the recoded scalar is
//! always the canonical one). The last addition still uses the doubling-aware
//! [`JacobianPoint::add_mixed_complete_ct`] as a defence; it costs one doubling.

use crate::field::FieldElement;
use crate::limbs::{self, Limbs};
use crate::point::{AffinePoint, JacobianPoint, batch_to_affine};
use crate::scalar::Scalar;
use std::sync::OnceLock;
use zeroize::Zeroize;

/// Window width in bits.
pub(crate) const W: usize = 6;
/// Number of windows: `⌈257 / W⌉` (one extra bit for the signed recoding).
pub(crate) const WINDOWS: usize = 257_usize.div_ceil(W);
/// Entries per window: `2^(W−1)`.
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

/// One window's table: `j·2⁶ⁱ·G` for `j = 1..=32`.
type Window = [Entry; ENTRIES];

static TABLE: OnceLock<Vec<Window>> = OnceLock::new();

/// The precomputed table (built on first use).
pub(crate) fn table() -> &'static [Window] {
    TABLE.get_or_init(build_table)
}

fn build_table() -> Vec<Window> {
    let mut all = Vec::with_capacity(WINDOWS * ENTRIES);
    let mut base = JacobianPoint::from(&AffinePoint::GENERATOR);
    for _ in 0..WINDOWS {
        let mut p = base;
        all.push(p);
        p = p.double();
        all.push(p);
        for _ in 2..ENTRIES {
            p = p.add_vartime(&base);
            all.push(p);
        }
        // 2^W·base = 2·(2^(W−1)·base).
        base = p.double();
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

/// Bits `[start, start + W + 1)` of `k` (bits past 255 read as zero).
#[inline(always)]
fn window_bits(k: &Limbs, start: usize) -> u64 {
    let limb = start / 64;
    let off = start % 64;
    let lo = if limb < 4 { k[limb] >> off } else { 0 };
    let hi = if off + W + 1 > 64 && limb + 1 < 4 {
        k[limb + 1] << (64 - off)
    } else {
        0
    };
    (lo | hi) & WINDOW_MASK
}

/// The `W + 1` bits a signed digit is recoded from.
const WINDOW_MASK: u64 = (1 << (W + 1)) - 1;

/// The `(W + 1)`-bit window value for digit `i` (bits `W·i − 1 .. W·i + W − 1`,
/// bit `−1` read as zero).
#[inline(always)]
fn window_value(k: &Limbs, i: usize) -> u64 {
    if i == 0 {
        (k[0] << 1) & WINDOW_MASK
    } else {
        window_bits(k, W * i - 1)
    }
}

/// Booth recoding of a `(W + 1)`-bit window: returns (sign mask, magnitude
/// `0..=2^(W−1)`).
/// Branch-free (after OpenSSL's `booth_recode_w7`).
#[inline(always)]
pub(crate) fn booth_recode(wv: u64) -> (u64, u64) {
    let s = !((wv >> W).wrapping_sub(1)); // all ones if the top bit is set
    let d = ((1u64 << (W + 1)) - wv - 1) & WINDOW_MASK;
    let d = (d & s) | (wv & !s);
    let d = (d >> 1) + (d & 1);
    (s, d)
}

/// Reads entry `mag − 1` of a window by scanning all entries; all zeros for `mag = 0`.
///
/// The selection masks are computed first and passed through
/// `black_box`, so the compiler cannot see that exactly one of them is set:
/// left to itself, LLVM turns `entry & mask` over a compare-derived mask back
/// into a branch on the secret index (observed in the generated code).
/// Each mask is stored twice and the entries are read as limb pairs, so the
/// loop compiles to 128-bit `pand`/`por` on aligned loads (half the
/// instructions of the 64-bit loop).
#[inline(always)]
fn lookup_ct(window: &Window, mag: u64) -> AffinePoint {
    let mut masks = [[0u64; 2]; ENTRIES];
    for (j, m) in masks.iter_mut().enumerate() {
        let bit = limbs::is_zero_mask((j as u64 + 1) ^ mag);
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

/// Looks up digit `i` of `k`: the signed table point and its infinity mask.
#[inline(always)]
fn digit_point_ct(t: &Window, k: &Limbs, i: usize) -> (AffinePoint, u64) {
    let (sign, mag) = booth_recode(window_value(k, i));
    let p = lookup_ct(t, mag);
    // Opaque masks: keep the sign and the zero digit out of branch conditions.
    let sign = core::hint::black_box(sign);
    let y = FieldElement::select_mask(&p.y, &p.y.neg(), sign);
    (
        AffinePoint { x: p.x, y },
        core::hint::black_box(limbs::is_zero_mask(mag)),
    )
}

/// `k·G` in constant time.
pub fn mul_base(k: &Scalar) -> JacobianPoint {
    let t = table();
    let mut kl = k.to_canonical();
    let (p0, inf0) = digit_point_ct(&t[0], &kl, 0);
    let mut acc = JacobianPoint {
        x: p0.x,
        y: p0.y,
        z: FieldElement::select_mask(&FieldElement::ONE, &FieldElement::ZERO, inf0),
    };
    for (i, win) in t.iter().enumerate().take(WINDOWS - 1).skip(1) {
        let (p, inf) = digit_point_ct(win, &kl, i);
        acc = acc.add_mixed_ct(&p, inf);
    }
    let (p, inf) = digit_point_ct(&t[WINDOWS - 1], &kl, WINDOWS - 1);
    kl.zeroize();
    acc.add_mixed_complete_ct(&p, inf)
}

/// `k·G` in variable time (public scalars only, e.g. verification).
pub fn mul_base_vartime(k: &Scalar) -> JacobianPoint {
    let t = table();
    let kl = k.to_canonical();
    let mut acc = JacobianPoint::IDENTITY;
    for (i, win) in t.iter().enumerate() {
        let (sign, mag) = booth_recode(window_value(&kl, i));
        if mag == 0 {
            continue;
        }
        let e = win[(mag - 1) as usize].to_affine();
        let p = if sign != 0 { e.neg() } else { e };
        acc = acc.add_mixed_vartime(&p);
    }
    acc
}
