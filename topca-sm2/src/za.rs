//! The user digest `Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A)` of
//! GM/T 0003.2 §5.5 and the message digest `e = SM3(Z ‖ M)`.

use crate::error::Error;
use crate::field::FieldElement;
use crate::point::{AffinePoint, B};
use sm3::{Digest, Sm3};

/// The default distinguishing identifier (GM/T 0009).
pub const DEFAULT_ID: &[u8] = b"1234567812345678";

/// Computes `Z` for the identifier `id` and public key `pk`.
pub fn compute_z(id: &[u8], pk: &AffinePoint) -> Result<[u8; 32], Error> {
    let bits = id.len().checked_mul(8).ok_or(Error::IdTooLong)?;
    let entl = u16::try_from(bits).map_err(|_| Error::IdTooLong)?;
    let a = FieldElement::ZERO.sub(&FieldElement::from_hex(
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000003",
    ));
    let g = AffinePoint::GENERATOR;
    let mut h = Sm3::new();
    h.update(entl.to_be_bytes());
    h.update(id);
    h.update(a.to_bytes());
    h.update(B.to_bytes());
    h.update(g.x.to_bytes());
    h.update(g.y.to_bytes());
    h.update(pk.x.to_bytes());
    h.update(pk.y.to_bytes());
    Ok(h.finalize().into())
}

/// `e = SM3(Z ‖ M)`.
pub fn message_digest(z: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    let mut h = Sm3::new();
    h.update(z);
    h.update(msg);
    h.finalize().into()
}
