//! JSON Web Signatures as ACME uses them (RFC 8555 §6.2, RFC 7515 flattened
//! JSON): ES256, ES384, RS256 and EdDSA over the keys of a JWK (RFC 7517) or
//! of the account a `kid` names, and the JWK thumbprint (RFC 7638) that
//! identifies an account's key. A JWK becomes a DER SubjectPublicKeyInfo that
//! TopCA's own key checks validate (curve points, RSA sizes and exponents).

use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use topca_core::{KeyKind, PublicKey, SignatureAlgorithm};

use super::problem::AcmeProblem;

/// The unpadded base64url of `bytes`.
pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `text` decoded from unpadded base64url.
pub(crate) fn unb64(text: &str, what: &str) -> Result<Vec<u8>, AcmeProblem> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| AcmeProblem::malformed(format!("{what} is not unpadded base64url")))
}

/// A JWS in flattened JSON serialization, decoded but not yet verified.
pub(crate) struct Jws {
    /// The protected header.
    pub header: Map<String, Value>,
    /// The payload (empty for POST-as-GET).
    pub payload: Vec<u8>,
    /// `protected.payload`, what the signature covers.
    signing_input: Vec<u8>,
    /// The signature bytes.
    signature: Vec<u8>,
}

impl Jws {
    /// Parses a flattened JSON JWS (no unprotected header).
    pub fn parse(body: &[u8]) -> Result<Self, AcmeProblem> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Flattened {
            protected: String,
            payload: String,
            signature: String,
        }
        let jws: Flattened = serde_json::from_slice(body).map_err(|_| {
            AcmeProblem::malformed(
                "the body is not a flattened JSON JWS (protected, payload, signature)",
            )
        })?;
        let header: Map<String, Value> =
            serde_json::from_slice(&unb64(&jws.protected, "the protected header")?)
                .map_err(|_| AcmeProblem::malformed("the protected header is not a JSON object"))?;
        Ok(Self {
            header,
            payload: unb64(&jws.payload, "the payload")?,
            signing_input: format!("{}.{}", jws.protected, jws.payload).into_bytes(),
            signature: unb64(&jws.signature, "the signature")?,
        })
    }

    /// A string member of the protected header.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    /// The `alg` of the header, if it is one the server takes.
    pub fn algorithm(&self) -> Result<&str, AcmeProblem> {
        match self.text("alg") {
            Some(alg @ ("ES256" | "ES384" | "RS256" | "EdDSA")) => Ok(alg),
            Some(other) => Err(AcmeProblem::bad_signature_algorithm(format!(
                "the JWS algorithm {other:?} is not taken"
            ))),
            None => Err(AcmeProblem::malformed("the protected header has no alg")),
        }
    }

    /// Verifies the signature with `key`.
    pub fn verify(&self, key: &Jwk) -> Result<(), AcmeProblem> {
        let alg = self.algorithm()?;
        verify(&key.key, alg, &self.signing_input, &self.signature)
    }

    /// Verifies a MAC (`HS256`, `HS384`, `HS512`) with `key`, in constant
    /// time: the external account binding (RFC 8555 §7.3.4).
    pub fn verify_mac(&self, key: &[u8]) -> Result<(), AcmeProblem> {
        use hmac::{Hmac, KeyInit, Mac};
        fn check<M: Mac + KeyInit>(key: &[u8], input: &[u8], tag: &[u8]) -> bool {
            <M as KeyInit>::new_from_slice(key).is_ok_and(|mut mac| {
                mac.update(input);
                mac.verify_slice(tag).is_ok()
            })
        }
        let (input, tag) = (&self.signing_input, &self.signature);
        let good = match self.text("alg") {
            Some("HS256") => check::<Hmac<Sha256>>(key, input, tag),
            Some("HS384") => check::<Hmac<sha2::Sha384>>(key, input, tag),
            Some("HS512") => check::<Hmac<sha2::Sha512>>(key, input, tag),
            _ => {
                return Err(AcmeProblem::malformed(
                    "the external account binding's alg must be HS256, HS384 or HS512",
                ));
            }
        };
        if good {
            Ok(())
        } else {
            Err(AcmeProblem::unauthorized(
                "the external account binding's MAC does not verify",
            ))
        }
    }
}

/// Verifies a JWS `signature` of `alg` over `input` with `key`.
fn verify(key: &PublicKey, alg: &str, input: &[u8], signature: &[u8]) -> Result<(), AcmeProblem> {
    let (algorithm, fits, signature) = match alg {
        "ES256" => (
            SignatureAlgorithm::EcdsaSha256,
            key.kind() == KeyKind::EcdsaP256,
            ecdsa_der(signature, 32)?,
        ),
        "ES384" => (
            SignatureAlgorithm::EcdsaSha384,
            key.kind() == KeyKind::EcdsaP384,
            ecdsa_der(signature, 48)?,
        ),
        "RS256" => (
            SignatureAlgorithm::RsaPkcs1Sha256,
            key.kind().is_rsa(),
            signature.to_vec(),
        ),
        _ => (
            SignatureAlgorithm::Ed25519,
            key.kind() == KeyKind::Ed25519,
            signature.to_vec(),
        ),
    };
    if !fits {
        return Err(AcmeProblem::bad_signature_algorithm(format!(
            "{alg} does not fit the key ({})",
            key.kind()
        )));
    }
    key.verify(algorithm, input, &signature)
        .map_err(|_| AcmeProblem::malformed("the JWS signature does not verify"))
}

/// An ECDSA signature `r || s` (JWS) as DER `ECDSA-Sig-Value` (X.509).
fn ecdsa_der(signature: &[u8], half: usize) -> Result<Vec<u8>, AcmeProblem> {
    if signature.len() != 2 * half {
        return Err(AcmeProblem::malformed(
            "the ECDSA signature has the wrong length",
        ));
    }
    let (r, s) = signature.split_at(half);
    let mut body = integer(r);
    body.extend(integer(s));
    Ok(tlv(0x30, &body))
}

/// A DER tag-length-value.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A DER INTEGER of the unsigned big-endian `value`.
fn integer(value: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = value.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend(trimmed);
    tlv(0x02, &content)
}

/// A public key from a JWK, with its canonical text (RFC 7638 member order).
#[derive(Clone)]
pub(crate) struct Jwk {
    /// The key, validated.
    pub key: PublicKey,
    /// The required members in lexicographic order, as RFC 7638 hashes them.
    canonical: String,
}

/// DER prefixes of the SubjectPublicKeyInfo algorithm identifiers.
const EC_P256: &[u8] = &[
    0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
    0xce, 0x3d, 0x03, 0x01, 0x07,
];
const EC_P384: &[u8] = &[
    0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04,
    0x00, 0x22,
];
const ED25519: &[u8] = &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
const RSA: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

impl Jwk {
    /// Parses a JWK: EC P-256 or P-384, RSA, or OKP Ed25519. Other key types
    /// get `badSignatureAlgorithm`; a key that fails TopCA's checks `badPublicKey`.
    pub fn parse(value: &Value) -> Result<Self, AcmeProblem> {
        let member = |name: &str| -> Result<String, AcmeProblem> {
            value
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| AcmeProblem::malformed(format!("the JWK has no {name}")))
        };
        let kty = member("kty")?;
        let (algorithm, key_bits, canonical) = match kty.as_str() {
            "EC" => {
                let crv = member("crv")?;
                let (prefix, size) = match crv.as_str() {
                    "P-256" => (EC_P256, 32),
                    "P-384" => (EC_P384, 48),
                    other => {
                        return Err(AcmeProblem::bad_signature_algorithm(format!(
                            "the curve {other:?} is not taken; use P-256 or P-384"
                        )));
                    }
                };
                let (x, y) = (member("x")?, member("y")?);
                let (xb, yb) = (unb64(&x, "x")?, unb64(&y, "y")?);
                if xb.len() != size || yb.len() != size {
                    return Err(AcmeProblem::bad_public_key("x and y have the wrong length"));
                }
                let mut point = vec![0x04];
                point.extend(xb);
                point.extend(yb);
                let canonical = serde_json::json!({"crv": crv, "kty": "EC", "x": x, "y": y});
                (prefix, point, canonical)
            }
            "RSA" => {
                let (n, e) = (member("n")?, member("e")?);
                let mut body = integer(&unb64(&n, "n")?);
                body.extend(integer(&unb64(&e, "e")?));
                let canonical = serde_json::json!({"e": e, "kty": "RSA", "n": n});
                (RSA, tlv(0x30, &body), canonical)
            }
            "OKP" => {
                let crv = member("crv")?;
                if crv != "Ed25519" {
                    return Err(AcmeProblem::bad_signature_algorithm(format!(
                        "the curve {crv:?} is not taken; use Ed25519"
                    )));
                }
                let x = member("x")?;
                let canonical = serde_json::json!({"crv": crv, "kty": "OKP", "x": x});
                (ED25519, unb64(&x, "x")?, canonical)
            }
            other => {
                return Err(AcmeProblem::bad_signature_algorithm(format!(
                    "the key type {other:?} is not taken; use EC, RSA or OKP"
                )));
            }
        };
        let mut bits = vec![0];
        bits.extend(key_bits);
        let mut spki = algorithm.to_vec();
        spki.extend(tlv(0x03, &bits));
        let key = PublicKey::from_spki_der(&tlv(0x30, &spki))
            .map_err(|e| AcmeProblem::bad_public_key(format!("the JWK is not usable: {e}")))?;
        // serde_json keeps object members sorted, as RFC 7638 wants them.
        Ok(Self {
            key,
            canonical: canonical.to_string(),
        })
    }

    /// The JWK as stored: its required members, canonical.
    pub fn text(&self) -> &str {
        &self.canonical
    }

    /// The JWK again from its stored text.
    pub fn from_text(text: &str) -> Result<Self, AcmeProblem> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| AcmeProblem::internal("read an account key", &e))?;
        Self::parse(&value)
    }

    /// The RFC 7638 SHA-256 thumbprint, base64url.
    pub fn thumbprint(&self) -> String {
        b64(&Sha256::digest(self.canonical.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7638_example_thumbprint() {
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        let jwk = Jwk::parse(&jwk).unwrap();
        assert_eq!(
            jwk.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn der_integers_are_minimal_and_positive() {
        assert_eq!(integer(&[0, 0, 1]), vec![2, 1, 1]);
        assert_eq!(integer(&[0x80]), vec![2, 2, 0, 0x80]);
        assert_eq!(integer(&[0, 0]), vec![2, 1, 0]);
    }

    #[test]
    fn unknown_key_types_and_curves_are_bad_signature_algorithms() {
        for jwk in [
            serde_json::json!({"kty": "oct", "k": "AAAA"}),
            serde_json::json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}),
            serde_json::json!({"kty": "OKP", "crv": "X25519", "x": "AA"}),
        ] {
            let refused = Jwk::parse(&jwk).err().unwrap();
            assert_eq!(refused.kind, "badSignatureAlgorithm", "{jwk}");
        }
    }
}
