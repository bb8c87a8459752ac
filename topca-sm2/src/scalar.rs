//! Arithmetic modulo the SM2 group order
//! `n = FFFFFFFE FFFFFFFF FFFFFFFF FFFFFFFF 7203DF6B 21C6052B 53BBF409 39D54123`.
//!
//! Scalars are kept in Montgomery form (`a·2²⁵⁶ mod n`), fully reduced, with a
//! generic word-by-word Montgomery reduction (`n` has no special form).
//! Every operation is constant time. Inversion is Fermat's `a^(n−2)` with a
//! fixed 4-bit window over the public exponent: the sequence of operations
//! never depends on the secret value.

use crate::limbs::{self, Limbs};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq, CtOption};
use zeroize::Zeroize;

/// The group order `n`, little-endian limbs.
pub(crate) const N: Limbs =
    limbs::from_hex("FFFFFFFE FFFFFFFF FFFFFFFF FFFFFFFF 7203DF6B 21C6052B 53BBF409 39D54123");
/// `−n⁻¹ mod 2⁶⁴`.
const N_INV: u64 = 0x327f_9e88_7235_0975;
/// `2⁵¹² mod n`.
const R2: Limbs = [
    0x9011_92af_7c11_4f20,
    0x3464_504a_de6f_a2fa,
    0x620f_c84c_3aff_e0d4,
    0x1eb5_e412_a22b_3d3b,
];

/// An integer modulo `n`, in Montgomery form.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scalar(Limbs);

impl Scalar {
    /// Zero.
    pub const ZERO: Self = Self([0; 4]);
    /// One.
    pub const ONE: Self = Self::from_canonical(&[1, 0, 0, 0]);

    /// Converts canonical limbs (`< n`) into Montgomery form.
    const fn from_canonical(a: &Limbs) -> Self {
        Self(limbs::mont_reduce(&limbs::mul_wide(a, &R2), &N, N_INV))
    }

    /// The canonical value as little-endian limbs (for window recoding).
    pub(crate) const fn to_canonical(self) -> Limbs {
        let a = self.0;
        limbs::mont_reduce(&[a[0], a[1], a[2], a[3], 0, 0, 0, 0], &N, N_INV)
    }

    /// Parses 32 big-endian bytes; `None` (in constant time) unless the value is below `n`.
    pub fn from_bytes(bytes: &[u8; 32]) -> CtOption<Self> {
        let a = limbs::from_be_bytes(bytes);
        let ok = Choice::from((limbs::lt_mask(&a, &N) & 1) as u8);
        CtOption::new(Self::from_canonical(&a), ok)
    }

    /// Reduces 32 big-endian bytes (any 256-bit value) modulo `n`.
    pub fn reduce_bytes(bytes: &[u8; 32]) -> Self {
        Self::reduce_limbs(&limbs::from_be_bytes(bytes))
    }

    /// Reduces a 256-bit value modulo `n` (one conditional subtraction: `2²⁵⁶ < 2n`).
    pub(crate) const fn reduce_limbs(a: &Limbs) -> Self {
        Self::from_canonical(&limbs::sub_if_above(a, 0, &N))
    }

    /// Encodes as 32 big-endian bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        limbs::to_be_bytes(&self.to_canonical())
    }

    /// `self + rhs mod n`.
    #[inline]
    pub const fn add(&self, rhs: &Self) -> Self {
        Self(limbs::add_mod(&self.0, &rhs.0, &N))
    }

    /// `self − rhs mod n`.
    #[inline]
    pub const fn sub(&self, rhs: &Self) -> Self {
        Self(limbs::sub_mod(&self.0, &rhs.0, &N))
    }

    /// `−self mod n`.
    #[inline]
    pub const fn neg(&self) -> Self {
        Self::ZERO.sub(self)
    }

    /// `self · rhs mod n`.
    #[inline]
    pub const fn mul(&self, rhs: &Self) -> Self {
        Self(limbs::mont_reduce(
            &limbs::mul_wide(&self.0, &rhs.0),
            &N,
            N_INV,
        ))
    }

    /// `self² mod n`.
    #[inline]
    pub const fn square(&self) -> Self {
        Self(limbs::mont_reduce(&limbs::square_wide(&self.0), &N, N_INV))
    }

    /// Multiplicative inverse `self^(n−2)`; the inverse of zero is zero.
    pub fn invert(&self) -> Self {
        // Window table self^0 .. self^15.
        let mut table = [Self::ONE; 16];
        for i in 1..16 {
            table[i] = table[i - 1].mul(self);
        }
        let (e, _) = limbs::sub(&N, &[2, 0, 0, 0]);
        let mut acc = Self::ONE;
        for limb in e.iter().rev() {
            for nib in (0..16).rev() {
                acc = acc.square().square().square().square();
                // The exponent is public, but the lookup still scans every entry.
                let idx = (limb >> (4 * nib)) & 0xf;
                let mut w = Self::ZERO;
                for (j, t) in table.iter().enumerate() {
                    let m = limbs::is_zero_mask(j as u64 ^ idx);
                    w = Self(limbs::select(&w.0, &t.0, m));
                }
                acc = acc.mul(&w);
            }
        }
        table.zeroize();
        acc
    }

    /// Whether `self == 0`, in constant time.
    pub fn is_zero(&self) -> Choice {
        Choice::from((limbs::limbs_zero_mask(&self.0) & 1) as u8)
    }
}

impl ConstantTimeEq for Scalar {
    fn ct_eq(&self, other: &Self) -> Choice {
        Choice::from((limbs::eq_mask(&self.0, &other.0) & 1) as u8)
    }
}

impl ConditionallySelectable for Scalar {
    fn conditional_select(a: &Self, b: &Self, choice: Choice) -> Self {
        Self(limbs::select(
            &a.0,
            &b.0,
            0u64.wrapping_sub(choice.unwrap_u8() as u64),
        ))
    }
}

impl PartialEq for Scalar {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for Scalar {}

impl Zeroize for Scalar {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}
