//! Points on the SM2 curve `y² = x³ − 3x + b` over GF(p).
//!
//! [`AffinePoint`] is a finite point `(x, y)`; [`JacobianPoint`] is
//! `(X : Y : Z)` standing for `(X/Z², Y/Z³)`, with `Z = 0` for the point at
//! infinity. Doubling uses the `a = −3` formula (3M + 5S); mixed addition of
//! an affine point costs 8M + 3S. The `_ct` additions are branch-free:
//! [`JacobianPoint::add_mixed_ct`] is the bare formula, for callers that
//! rule out the identity and equal inputs, and
//! [`JacobianPoint::add_mixed_complete_ct`] selects the right answer with
//! masks when the accumulator is the identity or equals the added point. The
//! `_vartime` functions branch and are only for public data (verification,
//! table building).

use crate::field::FieldElement;
use subtle::{Choice, ConstantTimeEq};

/// The curve coefficient `b`.
pub(crate) const B: FieldElement = FieldElement::from_hex(
    "28E9FA9E 9D9F5E34 4D5A9E4B CF6509A7 F39789F5 15AB8F92 DDBCBD41 4D940E93",
);

/// A finite point in affine coordinates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AffinePoint {
    /// The x coordinate.
    pub x: FieldElement,
    /// The y coordinate.
    pub y: FieldElement,
}

impl AffinePoint {
    /// The generator `G`.
    pub const GENERATOR: Self = Self {
        x: FieldElement::from_hex(
            "32C4AE2C 1F198119 5F990446 6A39C994 8FE30BBF F2660BE1 715A4589 334C74C7",
        ),
        y: FieldElement::from_hex(
            "BC3736A2 F4F6779C 59BDCEE3 6B692153 D0A9877C C62A4740 02DF32E5 2139F0A0",
        ),
    };

    /// Whether the point satisfies `y² = x³ − 3x + b`.
    pub fn is_on_curve(&self) -> Choice {
        let x = &self.x;
        let rhs = x.square().mul(x).sub(&x.double().add(x)).add(&B);
        self.y.square().ct_eq(&rhs)
    }

    /// Parses an uncompressed SEC1 point `04 ‖ x ‖ y` (65 bytes), checking
    /// that the coordinates are below `p` and the point is on the curve.
    /// (The curve has prime order, so every finite point on it is in the group.)
    pub fn from_uncompressed(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 65 || bytes[0] != 0x04 {
            return None;
        }
        let mut xb = [0u8; 32];
        let mut yb = [0u8; 32];
        xb.copy_from_slice(&bytes[1..33]);
        yb.copy_from_slice(&bytes[33..65]);
        let x = Option::<FieldElement>::from(FieldElement::from_bytes(&xb))?;
        let y = Option::<FieldElement>::from(FieldElement::from_bytes(&yb))?;
        let p = Self { x, y };
        bool::from(p.is_on_curve()).then_some(p)
    }

    /// Encodes as an uncompressed SEC1 point `04 ‖ x ‖ y`.
    pub fn to_uncompressed(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[0] = 0x04;
        out[1..33].copy_from_slice(&self.x.to_bytes());
        out[33..65].copy_from_slice(&self.y.to_bytes());
        out
    }

    /// `−self`.
    pub const fn neg(&self) -> Self {
        Self {
            x: self.x,
            y: self.y.neg(),
        }
    }
}

/// A point in Jacobian coordinates; `Z = 0` is the point at infinity.
#[derive(Clone, Copy, Debug)]
pub struct JacobianPoint {
    /// X.
    pub x: FieldElement,
    /// Y.
    pub y: FieldElement,
    /// Z.
    pub z: FieldElement,
}

impl From<&AffinePoint> for JacobianPoint {
    fn from(p: &AffinePoint) -> Self {
        Self {
            x: p.x,
            y: p.y,
            z: FieldElement::ONE,
        }
    }
}

impl JacobianPoint {
    /// The point at infinity.
    pub const IDENTITY: Self = Self {
        x: FieldElement::ONE,
        y: FieldElement::ONE,
        z: FieldElement::ZERO,
    };

    /// Whether this is the point at infinity.
    pub fn is_identity(&self) -> Choice {
        self.z.is_zero()
    }

    /// `mask ? b : a` for a mask of all zeros or all ones.
    #[inline(always)]
    pub(crate) const fn select_mask(a: &Self, b: &Self, mask: u64) -> Self {
        Self {
            x: FieldElement::select_mask(&a.x, &b.x, mask),
            y: FieldElement::select_mask(&a.y, &b.y, mask),
            z: FieldElement::select_mask(&a.z, &b.z, mask),
        }
    }

    /// `2·self` (the identity maps to the identity).
    #[inline]
    pub fn double(&self) -> Self {
        // dbl-2001-b for a = −3.
        let delta = self.z.square();
        let gamma = self.y.square();
        let beta = self.x.mul(&gamma);
        let t = self.x.sub(&delta).mul(&self.x.add(&delta));
        let alpha = t.double().add(&t);
        let beta4 = beta.double().double();
        let x3 = alpha.square().sub(&beta4.double());
        let z3 = self.y.add(&self.z).square().sub(&gamma).sub(&delta);
        let gamma2 = gamma.square();
        let y3 = alpha
            .mul(&beta4.sub(&x3))
            .sub(&gamma2.double().double().double());
        Self {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// Mixed addition formula, valid when `self` is finite and `self ≠ q`
    /// (gives the identity when `self = −q`). Also returns the
    /// mask "H = 0 and R = 0", meaning `self = q`.
    #[inline(always)]
    fn add_mixed_raw(&self, q: &AffinePoint) -> (Self, u64) {
        let z1z1 = self.z.square();
        let u2 = q.x.mul(&z1z1);
        let s2 = q.y.mul(&self.z.mul(&z1z1));
        let h = u2.sub(&self.x);
        let r = s2.sub(&self.y);
        let hh = h.square();
        let hhh = h.mul(&hh);
        let v = self.x.mul(&hh);
        let x3 = r.square().sub(&hhh).sub(&v.double());
        let y3 = r.mul(&v.sub(&x3)).sub(&self.y.mul(&hhh));
        let z3 = self.z.mul(&h);
        (
            Self {
                x: x3,
                y: y3,
                z: z3,
            },
            h.zero_mask() & r.zero_mask(),
        )
    }

    /// `self + q` in constant time, for a finite `self ≠ q` (gives the
    /// identity when `self = −q`). The caller guarantees both.
    #[inline]
    pub fn add_mixed_ct(&self, q: &AffinePoint) -> Self {
        self.add_mixed_raw(q).0
    }

    /// `self + q` in constant time for any `self`: also correct when `self`
    /// is the identity and when `self = q` (computes the doubling as well and
    /// selects the right result without branching).
    #[inline]
    pub fn add_mixed_complete_ct(&self, q: &AffinePoint) -> Self {
        let (sum, same) = self.add_mixed_raw(q);
        let dbl = self.double();
        let p_inf = core::hint::black_box(self.z.zero_mask());
        let same = core::hint::black_box(same);
        let r = Self::select_mask(&sum, &dbl, same & !p_inf);
        Self::select_mask(&r, &Self::from(q), p_inf)
    }

    /// `−self` when `mask` is all ones, `self` when it is zero (constant time).
    #[inline]
    pub(crate) fn negate_if(&self, mask: u64) -> Self {
        Self {
            x: self.x,
            y: FieldElement::select_mask(&self.y, &self.y.neg(), mask),
            z: self.z,
        }
    }

    /// `self + q` for an affine `q`, variable time (public data only).
    pub fn add_mixed_vartime(&self, q: &AffinePoint) -> Self {
        if bool::from(self.is_identity()) {
            return Self::from(q);
        }
        let (sum, same) = self.add_mixed_raw(q);
        if same != 0 { self.double() } else { sum }
    }

    /// `self + other`, variable time (public data only).
    pub fn add_vartime(&self, other: &Self) -> Self {
        if bool::from(self.is_identity()) {
            return *other;
        }
        if bool::from(other.is_identity()) {
            return *self;
        }
        let z1z1 = self.z.square();
        let z2z2 = other.z.square();
        let u1 = self.x.mul(&z2z2);
        let u2 = other.x.mul(&z1z1);
        let s1 = self.y.mul(&other.z.mul(&z2z2));
        let s2 = other.y.mul(&self.z.mul(&z1z1));
        let h = u2.sub(&u1);
        let r = s2.sub(&s1);
        if bool::from(h.is_zero()) {
            return if bool::from(r.is_zero()) {
                self.double()
            } else {
                Self::IDENTITY
            };
        }
        let hh = h.square();
        let hhh = h.mul(&hh);
        let v = u1.mul(&hh);
        let x3 = r.square().sub(&hhh).sub(&v.double());
        let y3 = r.mul(&v.sub(&x3)).sub(&s1.mul(&hhh));
        let z3 = self.z.mul(&other.z).mul(&h);
        Self {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// `−self`.
    pub fn neg(&self) -> Self {
        Self {
            x: self.x,
            y: self.y.neg(),
            z: self.z,
        }
    }

    /// Converts to affine coordinates (one inversion); `None` for infinity.
    pub fn to_affine(&self) -> Option<AffinePoint> {
        if bool::from(self.is_identity()) {
            return None;
        }
        let zi = self.z.invert();
        let zi2 = zi.square();
        Some(AffinePoint {
            x: self.x.mul(&zi2),
            y: self.y.mul(&zi2.mul(&zi)),
        })
    }

    /// Whether two points are equal (as group elements), variable time.
    pub fn eq_vartime(&self, other: &Self) -> bool {
        let a_inf = bool::from(self.is_identity());
        let b_inf = bool::from(other.is_identity());
        if a_inf || b_inf {
            return a_inf == b_inf;
        }
        let z1z1 = self.z.square();
        let z2z2 = other.z.square();
        self.x.mul(&z2z2) == other.x.mul(&z1z1)
            && self.y.mul(&z2z2.mul(&other.z)) == other.y.mul(&z1z1.mul(&self.z))
    }
}

/// Converts many Jacobian points to affine with a single inversion
/// (Montgomery's trick). All inputs must be finite.
pub(crate) fn batch_to_affine(points: &[JacobianPoint]) -> Vec<AffinePoint> {
    let mut prefix = Vec::with_capacity(points.len());
    let mut acc = FieldElement::ONE;
    for p in points {
        prefix.push(acc);
        acc = acc.mul(&p.z);
    }
    let mut inv = acc.invert();
    let mut out = vec![AffinePoint::default(); points.len()];
    for i in (0..points.len()).rev() {
        let zi = inv.mul(&prefix[i]);
        inv = inv.mul(&points[i].z);
        let zi2 = zi.square();
        out[i] = AffinePoint {
            x: points[i].x.mul(&zi2),
            y: points[i].y.mul(&zi2.mul(&zi)),
        };
    }
    out
}
