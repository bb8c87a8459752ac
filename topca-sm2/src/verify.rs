//! SM2 signature verification (GM/T 0003.2 §7.1), variable time (all
//! inputs are public).
//!
//! The check `r = (e + x₁) mod n` is done without an inversion: with
//! `t = (r − e) mod n`, the affine `x₁` of `(X : Y : Z)` must be `t` or
//! `t + n` (when below `p`), i.e. `X = t·Z²` or `X = (t + n)·Z²`.

use crate::double_mul::{
    ODD_MULTIPLES, mul_double_tables_vartime, mul_double_vartime, odd_multiples,
};
use crate::error::Error;
use crate::field::{FieldElement, P};
use crate::fixed_base::{Window, build_table};
use crate::limbs;
use crate::point::AffinePoint;
use crate::scalar::{N, Scalar};
use crate::signature::Signature;
use crate::za::{DEFAULT_ID, compute_z, message_digest};

/// DER prefix of a SubjectPublicKeyInfo for an SM2 key: id-ecPublicKey with
/// the SM2 curve OID 1.2.156.10197.1.301, then a 66-byte BIT STRING header.
const SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d, 0x03, 0x42, 0x00,
];

/// An SM2 public key with its identifier digest `Z` and a table of odd
/// multiples, both computed once; and, if asked for
/// ([`VerifyingKey::with_full_table`]), a table of all the multiples that
/// verification uses.
#[derive(Clone)]
pub struct VerifyingKey {
    point: AffinePoint,
    z: [u8; 32],
    q_odd: [AffinePoint; ODD_MULTIPLES],
    q_table: Option<Box<[Window]>>,
}

impl core::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("point", &self.point)
            .field("z", &self.z)
            .field("full_table", &self.q_table.is_some())
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// From a public point and the default identifier `1234567812345678`.
    pub fn from_affine(point: AffinePoint) -> Result<Self, Error> {
        Self::from_affine_with_id(point, DEFAULT_ID)
    }

    /// From a public point and an identifier.
    pub fn from_affine_with_id(point: AffinePoint, id: &[u8]) -> Result<Self, Error> {
        if !bool::from(point.is_on_curve()) {
            return Err(Error::InvalidPublicKey);
        }
        let z = compute_z(id, &point)?;
        Ok(Self {
            point,
            z,
            q_odd: odd_multiples(&point),
            q_table: None,
        })
    }

    /// This key with a table of its multiples, for a key that verifies many
    /// signatures (a CA checking each signature it makes): 1 376 affine
    /// points (86 KiB), built once with one inversion for the cost of about
    /// nine verifications, after which a verification takes a third of the
    /// time (`u₂·Q` in 42 mixed additions instead of 256 doublings and about
    /// 37 additions; `cargo bench -p topca-sm2`: 19.6 µs against 60.4 µs,
    /// the table built in 0.53 ms).
    #[must_use]
    pub fn with_full_table(mut self) -> Self {
        if self.q_table.is_none() {
            self.q_table = Some(build_table(&self.point).into_boxed_slice());
        }
        self
    }

    /// From an uncompressed SEC1 point (`04 ‖ x ‖ y`) and the default identifier.
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, Error> {
        Self::from_sec1_with_id(bytes, DEFAULT_ID)
    }

    /// From an uncompressed SEC1 point and an identifier.
    pub fn from_sec1_with_id(bytes: &[u8], id: &[u8]) -> Result<Self, Error> {
        let p = AffinePoint::from_uncompressed(bytes).ok_or(Error::InvalidPublicKey)?;
        Self::from_affine_with_id(p, id)
    }

    /// The public point.
    pub fn as_affine(&self) -> &AffinePoint {
        &self.point
    }

    /// The identifier digest `Z`.
    pub fn z(&self) -> &[u8; 32] {
        &self.z
    }

    /// The uncompressed SEC1 encoding `04 ‖ x ‖ y`.
    pub fn to_sec1(&self) -> [u8; 65] {
        self.point.to_uncompressed()
    }

    /// DER SubjectPublicKeyInfo (id-ecPublicKey, curve SM2, uncompressed point).
    pub fn to_public_key_der(&self) -> Vec<u8> {
        let mut out = SPKI_PREFIX.to_vec();
        out.extend_from_slice(&self.to_sec1());
        out
    }

    /// `e = SM3(Z ‖ msg)`.
    pub fn digest(&self, msg: &[u8]) -> [u8; 32] {
        message_digest(&self.z, msg)
    }

    /// Verifies `(r, s)` over `msg`.
    pub fn verify(&self, msg: &[u8], r: &[u8; 32], s: &[u8; 32]) -> Result<(), Error> {
        self.verify_digest(&self.digest(msg), r, s)
    }

    /// Verifies a [`Signature`] over `msg`.
    pub fn verify_signature(&self, msg: &[u8], sig: &Signature) -> Result<(), Error> {
        self.verify(msg, sig.r(), sig.s())
    }

    /// Verifies a DER signature over `msg`.
    pub fn verify_der(&self, msg: &[u8], der: &[u8]) -> Result<(), Error> {
        let sig = Signature::from_der(der)?;
        self.verify_signature(msg, &sig)
    }

    /// Verifies `(r, s)` against a precomputed `e = SM3(Z ‖ M)`.
    pub fn verify_digest(&self, e: &[u8; 32], r: &[u8; 32], s: &[u8; 32]) -> Result<(), Error> {
        let bad = Error::BadSignature;
        // B1, B2: r, s ∈ [1, n − 1].
        let r = Option::<Scalar>::from(Scalar::from_bytes(r)).ok_or(bad)?;
        let s = Option::<Scalar>::from(Scalar::from_bytes(s)).ok_or(bad)?;
        if bool::from(r.is_zero() | s.is_zero()) {
            return Err(bad);
        }
        // B5: t = r + s mod n, t ≠ 0.
        let t = r.add(&s);
        if bool::from(t.is_zero()) {
            return Err(bad);
        }
        // B6: (x₁, y₁) = s·G + t·P.
        let pt = match &self.q_table {
            Some(table) => mul_double_tables_vartime(&s, &t, table),
            None => mul_double_vartime(&s, &t, &self.q_odd),
        };
        if bool::from(pt.is_identity()) {
            return Err(bad);
        }
        // B7: r = (e + x₁) mod n  ⇔  x₁ ∈ {t', t' + n} with t' = (r − e) mod n.
        let e = Scalar::reduce_bytes(e);
        let target = r.sub(&e).to_canonical();
        let zz = pt.z.square();
        let cand = FieldElement::from_canonical(&target).mul(&zz);
        if cand == pt.x {
            return Ok(());
        }
        let (plus_n, carry) = limbs::add(&target, &N);
        if carry == 0 && limbs::lt_mask(&plus_n, &P) != 0 {
            let cand = FieldElement::from_canonical(&plus_n).mul(&zz);
            if cand == pt.x {
                return Ok(());
            }
        }
        Err(bad)
    }
}

impl PartialEq for VerifyingKey {
    fn eq(&self, other: &Self) -> bool {
        self.point == other.point && self.z == other.z
    }
}

impl Eq for VerifyingKey {}
