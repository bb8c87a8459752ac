//! Arithmetic modulo the SM2 prime
//! `p = 2²⁵⁶ − 2²²⁴ − 2⁹⁶ + 2⁶⁴ − 1`.
//!
//! Elements are kept in Montgomery form `a·2²⁵⁶ mod p`, always fully reduced
//! into `[0, p)`, as four 64-bit limbs. Because `p ≡ −1 (mod 2⁶⁴)`, the
//! Montgomery constant `−p⁻¹ mod 2⁶⁴` is 1: each reduction round takes the
//! low limb itself as the multiplier, and adding that multiple of `p` is
//! one add-with-carry chain and one subtract-with-borrow chain of shifted
//! copies, no multiplication. The carries are flags (`limbs::add_carry`,
//! `limbs::sub_borrow`), the pattern LLVM turns into `adc`/`sbb`; with the
//! carries as `u128` sums, field operations took about 15 % more
//! instructions. Multiplication interleaves each row `a[i]·b` with a
//! round (CIOS), so only five accumulator limbs are live; each row is its
//! four products joined by one carry chain, then added to the accumulator
//! by another (carrying every product into the next with a multiply-add
//! took 12 % more instructions and about 20 % more time): 214 instructions
//! for a stand-alone multiplication, reduction and call included.
//! Every operation is constant time; inversion uses the safegcd divsteps of
//! `safegcd` (Fermat's `a^(p−2)` along a fixed addition chain, 255
//! squarings and 14 multiplications, is kept as a cross-check).

use crate::limbs::{self, Limbs};
use crate::safegcd;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq, CtOption};

/// The prime `p`, little-endian limbs.
pub(crate) const P: Limbs =
    limbs::from_hex("FFFFFFFE FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF 00000000 FFFFFFFF FFFFFFFF");
/// `2⁵¹² mod p`, used to enter Montgomery form.
const R2: Limbs = [
    0x0000_0002_0000_0003,
    0x0000_0002_ffff_ffff,
    0x0000_0001_0000_0001,
    0x0000_0004_0000_0002,
];

/// `2⁷⁶⁸ mod p`: Montgomery multiplication by it maps `x·R⁻¹` to `x·R`.
const R3: Limbs = reduce(&limbs::mul_wide(&R2, &R2));

/// `p` for the safegcd inversion; `p⁻¹ ≡ −1 ≡ 2⁶² − 1 (mod 2⁶²)`.
const MOD_INFO: safegcd::ModInfo = safegcd::ModInfo {
    modulus: safegcd::to_signed62(&P),
    modulus_inv62: u64::MAX >> 2,
};

/// An element of GF(p) in Montgomery form.
#[derive(Clone, Copy, Debug, Default)]
pub struct FieldElement(pub(crate) Limbs);

/// One Montgomery round on a six-limb window `t` (below `2³²¹`):
/// `(t + k·p) / 2⁶⁴` with `k = t[0]`, as five limbs (below `2²⁵⁸`).
///
/// The Montgomery constant `−p⁻¹ mod 2⁶⁴` is 1, hence `k = t[0]`, and
/// `k·p = k·2²⁵⁶ − k·2²²⁴ − k·2⁹⁶ + k·2⁶⁴ − k`: the `−k` clears limb 0, and
/// the rest is adding `[k, 0, 0, k]` and subtracting
/// `[k·2³² mod 2⁶⁴, k / 2³², k·2³² mod 2⁶⁴, k / 2³²]` at limbs 1 to 4 (the
/// carry and borrow run on into limb 5): one add-with-carry chain and one
/// subtract-with-borrow chain, no multiplication.
#[inline(always)]
const fn round(t: [u64; 6]) -> [u64; 5] {
    let k = t[0];
    let (lo, hi) = (k << 32, k >> 32);
    let (x1, c) = limbs::add_carry(t[1], k, false);
    let (x2, c) = limbs::add_carry(t[2], 0, c);
    let (x3, c) = limbs::add_carry(t[3], 0, c);
    let (x4, c) = limbs::add_carry(t[4], k, c);
    let (x5, _) = limbs::add_carry(t[5], 0, c);
    let (y1, w) = limbs::sub_borrow(x1, lo, false);
    let (y2, w) = limbs::sub_borrow(x2, hi, w);
    let (y3, w) = limbs::sub_borrow(x3, lo, w);
    let (y4, w) = limbs::sub_borrow(x4, hi, w);
    let (y5, _) = limbs::sub_borrow(x5, 0, w);
    [y1, y2, y3, y4, y5]
}

/// Montgomery reduction `t · 2⁻²⁵⁶ mod p` of a product `t < p·2²⁵⁶`: four
/// [`round`]s, each window taking in the next limb of `t`; the result is below
/// `2p`, so one conditional subtraction finishes it.
#[inline(always)]
const fn reduce(t: &[u64; 8]) -> Limbs {
    let mut acc = round([t[0], t[1], t[2], t[3], t[4], 0]);
    let mut i = 5;
    while i < 8 {
        let (top, c) = limbs::add_carry(acc[4], t[i], false);
        acc = round([acc[0], acc[1], acc[2], acc[3], top, c as u64]);
        i += 1;
    }
    limbs::sub_if_above(&[acc[0], acc[1], acc[2], acc[3]], acc[4], &P)
}

/// Montgomery multiplication `a·b·2⁻²⁵⁶ mod p`, interleaved (CIOS): each row
/// `a[i]·b` is added to a five-limb accumulator and at once reduced by one
/// [`round`], so fewer limbs are live than with the full 512-bit product
/// (fewer register spills).
#[inline(always)]
const fn mul_cios(a: &Limbs, b: &Limbs) -> Limbs {
    // Written out: LLVM keeps a `while` over the rows rolled.
    let row = limbs::mul_row(a[0], b);
    let acc = round([row[0], row[1], row[2], row[3], row[4], 0]);
    let acc = add_row_and_round(&acc, &limbs::mul_row(a[1], b));
    let acc = add_row_and_round(&acc, &limbs::mul_row(a[2], b));
    let acc = add_row_and_round(&acc, &limbs::mul_row(a[3], b));
    limbs::sub_if_above(&[acc[0], acc[1], acc[2], acc[3]], acc[4], &P)
}

/// One CIOS step: `(acc + row)`, then one Montgomery [`round`].
#[inline(always)]
const fn add_row_and_round(acc: &[u64; 5], row: &[u64; 5]) -> [u64; 5] {
    let (t0, c) = limbs::add_carry(acc[0], row[0], false);
    let (t1, c) = limbs::add_carry(acc[1], row[1], c);
    let (t2, c) = limbs::add_carry(acc[2], row[2], c);
    let (t3, c) = limbs::add_carry(acc[3], row[3], c);
    let (t4, c) = limbs::add_carry(acc[4], row[4], c);
    round([t0, t1, t2, t3, t4, c as u64])
}

impl FieldElement {
    /// Zero.
    pub const ZERO: Self = Self([0; 4]);
    /// One (in Montgomery form: `2²⁵⁶ mod p`).
    pub const ONE: Self = Self::from_canonical(&[1, 0, 0, 0]);

    /// Converts canonical limbs (`< p`) into Montgomery form.
    pub(crate) const fn from_canonical(a: &Limbs) -> Self {
        Self(reduce(&limbs::mul_wide(a, &R2)))
    }

    /// Parses a 64-digit big-endian hex constant at compile time.
    pub(crate) const fn from_hex(s: &str) -> Self {
        Self::from_canonical(&limbs::from_hex(s))
    }

    /// Returns the canonical (non-Montgomery) limbs.
    pub(crate) const fn to_canonical(self) -> Limbs {
        let a = self.0;
        reduce(&[a[0], a[1], a[2], a[3], 0, 0, 0, 0])
    }

    /// Parses 32 big-endian bytes; `None` (in constant time) if the value is not below `p`.
    pub fn from_bytes(bytes: &[u8; 32]) -> CtOption<Self> {
        let a = limbs::from_be_bytes(bytes);
        let ok = Choice::from((limbs::lt_mask(&a, &P) & 1) as u8);
        CtOption::new(Self::from_canonical(&a), ok)
    }

    /// Encodes as 32 big-endian bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        limbs::to_be_bytes(&self.to_canonical())
    }

    /// `self + rhs`.
    #[inline(always)]
    pub const fn add(&self, rhs: &Self) -> Self {
        Self(limbs::add_mod(&self.0, &rhs.0, &P))
    }

    /// `self − rhs`.
    #[inline(always)]
    pub const fn sub(&self, rhs: &Self) -> Self {
        Self(limbs::sub_mod(&self.0, &rhs.0, &P))
    }

    /// `−self`.
    #[inline(always)]
    pub const fn neg(&self) -> Self {
        Self::ZERO.sub(self)
    }

    /// `2·self`.
    #[inline(always)]
    pub const fn double(&self) -> Self {
        self.add(self)
    }

    /// `self · rhs`.
    #[inline(always)]
    pub const fn mul(&self, rhs: &Self) -> Self {
        Self(mul_cios(&self.0, &rhs.0))
    }

    /// `self²`.
    #[inline(always)]
    pub const fn square(&self) -> Self {
        Self(reduce(&limbs::square_wide(&self.0)))
    }

    /// `self^(2^k)`: `k` successive squarings.
    #[inline]
    pub fn sqn(&self, k: u32) -> Self {
        let mut t = *self;
        for _ in 0..k {
            t = t.square();
        }
        t
    }

    /// Whether `self == 0`, in constant time.
    #[inline]
    pub fn is_zero(&self) -> Choice {
        Choice::from((limbs::limbs_zero_mask(&self.0) & 1) as u8)
    }

    /// All ones if zero, else all zeros (for internal branch-free code).
    #[inline(always)]
    pub(crate) const fn zero_mask(&self) -> u64 {
        limbs::limbs_zero_mask(&self.0)
    }

    /// `mask ? b : a` for a mask of all zeros or all ones.
    #[inline(always)]
    pub(crate) const fn select_mask(a: &Self, b: &Self, mask: u64) -> Self {
        Self(limbs::select(&a.0, &b.0, mask))
    }

    /// Multiplicative inverse (constant-time safegcd); the inverse of zero is zero.
    pub fn invert(&self) -> Self {
        // The stored value is m = a·R; safegcd gives m⁻¹ = a⁻¹·R⁻¹, and a
        // Montgomery multiplication by R³ turns it into a⁻¹·R.
        let m_inv = safegcd::invert(&self.0, &MOD_INFO);
        Self(reduce(&limbs::mul_wide(&m_inv, &R3)))
    }

    /// Multiplicative inverse `self^(p−2)` by Fermat's little theorem (kept
    /// as an independent check of [`Self::invert`]).
    pub fn invert_fermat(&self) -> Self {
        // p − 2 in binary, most significant first:
        // 31 ones, 0, 128 ones, 32 zeros, 62 ones, 0, 1.
        let x1 = *self;
        let x2 = x1.square().mul(&x1);
        let x3 = x2.square().mul(&x1);
        let x6 = x3.sqn(3).mul(&x3);
        let x12 = x6.sqn(6).mul(&x6);
        let x24 = x12.sqn(12).mul(&x12);
        let x30 = x24.sqn(6).mul(&x6);
        let x31 = x30.square().mul(&x1);
        let x32 = x31.square().mul(&x1);
        let mut t = x31.square();
        t = t.sqn(32).mul(&x32);
        t = t.sqn(32).mul(&x32);
        t = t.sqn(32).mul(&x32);
        t = t.sqn(32).mul(&x32);
        t = t.sqn(32);
        t = t.sqn(31).mul(&x31);
        t = t.sqn(31).mul(&x31);
        t = t.square();
        t.square().mul(&x1)
    }
}

impl ConstantTimeEq for FieldElement {
    fn ct_eq(&self, other: &Self) -> Choice {
        Choice::from((limbs::eq_mask(&self.0, &other.0) & 1) as u8)
    }
}

impl ConditionallySelectable for FieldElement {
    fn conditional_select(a: &Self, b: &Self, choice: Choice) -> Self {
        Self::select_mask(a, b, 0u64.wrapping_sub(choice.unwrap_u8() as u64))
    }
}

impl PartialEq for FieldElement {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for FieldElement {}
