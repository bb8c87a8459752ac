//! Property tests: DER round trips and robustness, field and scalar laws.

#![allow(missing_docs)]

use proptest::prelude::*;
use topca_sm2::field::FieldElement;
use topca_sm2::scalar::Scalar;
use topca_sm2::{Signature, SigningKey};

/// Any 32 bytes reduced into the field: values up to p − 1 (the full range,
/// where the carries of the reduction matter), 2²⁵⁶ − p and more wrapping
/// to small values.
fn fe(b: [u8; 32]) -> FieldElement {
    FieldElement::from_bytes(&b).unwrap_or_else(|| {
        // Only b ≥ p comes here (probability ≈ 2⁻³²): subtract p by adding −p.
        let mut c = b;
        c[0] = 0x00;
        FieldElement::from_bytes(&c).unwrap()
    })
}

proptest! {
    #[test]
    fn der_round_trips(r in any::<[u8; 32]>(), s in any::<[u8; 32]>()) {
        let sig = Signature::from_components(r, s);
        let der = sig.to_der();
        prop_assert!(der.len() <= 72);
        prop_assert_eq!(Signature::from_der(&der).unwrap(), sig);
        // Any strict prefix or any extension is rejected.
        prop_assert!(Signature::from_der(&der[..der.len() - 1]).is_err());
        let mut longer = der.clone();
        longer.push(0);
        prop_assert!(Signature::from_der(&longer).is_err());
    }

    #[test]
    fn der_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(sig) = Signature::from_der(&bytes) {
            // Whatever parses is canonical DER.
            prop_assert_eq!(sig.to_der(), bytes);
        }
    }

    /// A valid signature with one byte changed: whatever still parses is canonical.
    #[test]
    fn der_parser_on_mutated_signatures(
        r in any::<[u8; 32]>(),
        s in any::<[u8; 32]>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut der = Signature::from_components(r, s).to_der();
        let i = at.index(der.len());
        der[i] = byte;
        if let Ok(sig) = Signature::from_der(&der) {
            prop_assert_eq!(sig.to_der(), der);
        }
    }

    #[test]
    fn field_laws(a in any::<[u8; 32]>(), b in any::<[u8; 32]>(), c in any::<[u8; 32]>()) {
        let (a, b, c) = (fe(a), fe(b), fe(c));
        prop_assert_eq!(a.add(&b).mul(&c), a.mul(&c).add(&b.mul(&c)));
        prop_assert_eq!(a.mul(&b), b.mul(&a));
        prop_assert_eq!(a.square(), a.mul(&a));
        prop_assert_eq!(a.sub(&b).add(&b), a);
        prop_assert_eq!(FieldElement::from_bytes(&a.to_bytes()).unwrap(), a);
        if !bool::from(a.is_zero()) {
            prop_assert_eq!(a.invert().mul(&a), FieldElement::ONE);
        }
    }

    #[test]
    fn scalar_laws(a in any::<[u8; 32]>(), b in any::<[u8; 32]>(), c in any::<[u8; 32]>()) {
        let (a, b, c) = (Scalar::reduce_bytes(&a), Scalar::reduce_bytes(&b), Scalar::reduce_bytes(&c));
        prop_assert_eq!(a.add(&b).mul(&c), a.mul(&c).add(&b.mul(&c)));
        prop_assert_eq!(a.sub(&b).add(&b), a);
        prop_assert_eq!(a.neg().add(&a), Scalar::ZERO);
        if !bool::from(a.is_zero()) {
            prop_assert_eq!(a.invert().mul(&a), Scalar::ONE);
        }
    }

    #[test]
    fn sign_then_verify(secret in any::<[u8; 32]>(), msg in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(key) = SigningKey::from_bytes(&secret) {
            let sig = key.sign(&msg).unwrap();
            prop_assert!(key.verifying_key().verify_der(&msg, &sig.to_der()).is_ok());
        }
    }
}
