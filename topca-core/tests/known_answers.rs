//! Known-answer tests for the signers TopCA wraps: Ed25519 (RFC 8032 §7.1, whose
//! signatures are deterministic) and ECDSA P-256 (RFC 6979 A.2.5: key derivation
//! and verification of the published signature; AWS-LC signs with random nonces).
//! SM2's GM/T 0003.5 example is in `topca-sm2`'s tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

use topca_core::{KeyKind, PublicKey, SignatureAlgorithm, SigningKey};

fn hex(text: &str) -> Vec<u8> {
    let text: String = text.split_whitespace().collect();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// `SEQUENCE { INTEGER r, INTEGER s }` for 32-byte r and s.
fn ecdsa_der(r: &[u8], s: &[u8]) -> Vec<u8> {
    let integer = |v: &[u8]| {
        let v: Vec<u8> = v.iter().copied().skip_while(|b| *b == 0).collect();
        let mut out = vec![0x02];
        if v[0] & 0x80 != 0 {
            out.push(v.len() as u8 + 1);
            out.push(0);
        } else {
            out.push(v.len() as u8);
        }
        out.extend(v);
        out
    };
    let body = [integer(r), integer(s)].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

#[test]
fn ed25519_signs_the_rfc_8032_vectors() {
    // (secret seed, public key, message, signature): RFC 8032 §7.1 TEST 1 and TEST 2.
    let vectors = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
    ];
    for (seed, public, message, signature) in vectors {
        // PKCS#8 (RFC 8410): version 0, id-Ed25519, OCTET STRING { OCTET STRING seed }.
        let pkcs8 = [hex("302e020100300506032b657004220420"), hex(seed)].concat();
        let key = SigningKey::from_pkcs8_der(&pkcs8).unwrap();
        assert_eq!(key.public_key().key_bytes().unwrap(), hex(public));
        let signed = key.sign_bytes(&hex(message)).unwrap();
        assert_eq!(signed.as_bytes(), hex(signature).as_slice());
        key.public_key()
            .verify(SignatureAlgorithm::Ed25519, &hex(message), &hex(signature))
            .unwrap();
    }
}

#[test]
fn p256_matches_rfc_6979_a_2_5() {
    let x = hex("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721");
    let ux = hex("60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6");
    let uy = hex("7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299");
    // PKCS#8 holding the SEC 1 ECPrivateKey for x (no public key: it is derived).
    let pkcs8 = [
        hex("3041020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420"),
        x,
    ]
    .concat();
    let key = SigningKey::from_pkcs8_der(&pkcs8).unwrap();
    assert_eq!(key.public_key().kind(), KeyKind::EcdsaP256);
    let point = [vec![0x04], ux.clone(), uy.clone()].concat();
    assert_eq!(
        key.public_key().key_bytes().unwrap(),
        point,
        "public key from x"
    );

    // The published signature of "sample" with SHA-256 verifies; a changed one does not.
    let spki = [
        hex("3059301306072a8648ce3d020106082a8648ce3d030107034200"),
        point,
    ]
    .concat();
    let public = PublicKey::from_spki_der(&spki).unwrap();
    let r = hex("EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716");
    let s = hex("F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8");
    public
        .verify(
            SignatureAlgorithm::EcdsaSha256,
            b"sample",
            &ecdsa_der(&r, &s),
        )
        .unwrap();
    assert!(
        public
            .verify(
                SignatureAlgorithm::EcdsaSha256,
                b"samplf",
                &ecdsa_der(&r, &s)
            )
            .is_err()
    );
    // And TopCA's own signature with this key verifies under the published key.
    let ours = key.sign_bytes(b"sample").unwrap();
    public
        .verify(SignatureAlgorithm::EcdsaSha256, b"sample", ours.as_bytes())
        .unwrap();
}
