//! Cross-checks with the independent RustCrypto `sm2` crate.

#![allow(missing_docs, clippy::unwrap_used)]

use sm2::dsa::signature::{Signer, Verifier};
use topca_sm2::fixed_base::mul_base;
use topca_sm2::scalar::Scalar;
use topca_sm2::{DEFAULT_ID, Signature, SigningKey, VerifyingKey};

const DISTID: &str = "1234567812345678";

fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).unwrap();
    b
}

fn random32() -> [u8; 32] {
    random_bytes(32).try_into().unwrap()
}

fn their_public(k: &[u8; 32]) -> Vec<u8> {
    let sk = sm2::SecretKey::from_slice(k).unwrap();
    let vk = sm2::dsa::VerifyingKey::new(DISTID, sk.public_key()).unwrap();
    vk.to_sec1_bytes().to_vec()
}

#[test]
fn fixed_base_matches_sm2_crate() {
    let mut ks: Vec<[u8; 32]> = Vec::new();
    for small in 1u8..=20 {
        let mut b = [0u8; 32];
        b[31] = small;
        ks.push(b);
    }
    let n_minus = |d: u8| {
        let mut b: [u8; 32] =
            hex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123");
        b[31] -= d;
        b
    };
    ks.push(n_minus(1));
    ks.push(n_minus(2));
    for _ in 0..300 {
        ks.push(random32());
    }
    for k in &ks {
        let Ok(_) = sm2::SecretKey::from_slice(k) else {
            continue;
        };
        let s = Scalar::from_bytes(k).unwrap();
        let ours = mul_base(&s).to_affine().unwrap().to_uncompressed();
        let theirs = their_public(k);
        assert_eq!(theirs.len(), 65);
        assert_eq!(&ours[..], &theirs[..], "k = {k:02x?}");
    }
}

fn hex(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for i in 0..32 {
        out[i] = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

#[test]
fn signatures_verify_both_ways() {
    for i in 0..300usize {
        let secret = random32();
        let Ok(ours) = SigningKey::from_bytes(&secret) else {
            continue;
        };
        let theirs = sm2::dsa::SigningKey::from_slice(DISTID, &secret).unwrap();
        let vk_ours = ours.verifying_key();
        let vk_theirs = theirs.verifying_key();
        assert_eq!(&vk_ours.to_sec1()[..], &vk_theirs.to_sec1_bytes()[..]);
        let msg = random_bytes(i * 5 % 1500);

        // Ours → theirs.
        let sig = ours.sign(&msg).unwrap();
        let their_sig = sm2::dsa::Signature::from_der(&sig.to_der()).unwrap();
        vk_theirs.verify(&msg, &their_sig).unwrap();
        let mut tampered = msg.clone();
        tampered.push(0);
        assert!(vk_theirs.verify(&tampered, &their_sig).is_err());

        // Theirs → ours (their signing is RFC 6979 without extra data).
        let t: sm2::dsa::Signature = theirs.sign(&msg);
        let der = t.to_der();
        vk_ours.verify_der(&msg, der.as_bytes()).unwrap();
        let t_bytes: [u8; 64] = t.to_bytes().into();
        let parsed = Signature::from_bytes(&t_bytes);
        vk_ours.verify_signature(&msg, &parsed).unwrap();
        assert!(vk_ours.verify_signature(&tampered, &parsed).is_err());
        let mut r = *parsed.r();
        r[i % 32] ^= 1 << (i % 8);
        assert!(vk_ours.verify(&msg, &r, parsed.s()).is_err());
        let mut s = *parsed.s();
        s[(i + 7) % 32] ^= 1 << (i % 8);
        assert!(vk_ours.verify(&msg, parsed.r(), &s).is_err());

        // Same nonce derivation: deterministic signatures are identical.
        assert_eq!(ours.sign_deterministic(&msg).unwrap().to_bytes(), t_bytes);
    }
}

#[test]
fn verifying_key_from_their_encoding() {
    let secret = random32();
    let theirs = sm2::dsa::SigningKey::from_slice(DISTID, &secret).unwrap();
    let vk = VerifyingKey::from_sec1(&theirs.verifying_key().to_sec1_bytes()).unwrap();
    let msg = b"cross-encoded key";
    let t: sm2::dsa::Signature = theirs.sign(msg);
    let t_bytes: [u8; 64] = t.to_bytes().into();
    vk.verify_signature(msg, &Signature::from_bytes(&t_bytes))
        .unwrap();
    assert_eq!(DEFAULT_ID, DISTID.as_bytes());
}
