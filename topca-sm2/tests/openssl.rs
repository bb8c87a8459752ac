//! Interoperability with the OpenSSL 3 command line (`openssl pkeyutl`).
//! Skipped, with a message, when `openssl` is not installed.

#![allow(missing_docs, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use topca_sm2::{Signature, SigningKey};

fn openssl_available() -> bool {
    Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn pem(label: &str, der: &[u8]) -> String {
    let b = base64(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for line in b.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(line).unwrap());
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// PKCS#8 for an SM2 key: the layout OpenSSL itself writes.
fn pkcs8(key: &SigningKey) -> Vec<u8> {
    let mut d = vec![
        0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
        0x02, 0x01, 0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d, 0x04, 0x6d, 0x30,
        0x6b, 0x02, 0x01, 0x01, 0x04, 0x20,
    ];
    d.extend_from_slice(&key.to_bytes());
    d.extend_from_slice(&[0xa1, 0x44, 0x03, 0x42, 0x00]);
    d.extend_from_slice(&key.verifying_key().to_sec1());
    d
}

fn verify_with_openssl(dir: &Path, msg: &[u8], der_sig: &[u8]) -> bool {
    std::fs::write(dir.join("msg"), msg).unwrap();
    std::fs::write(dir.join("sig.der"), der_sig).unwrap();
    let out = Command::new("openssl")
        .current_dir(dir)
        .args([
            "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "msg",
        ])
        .args([
            "-sigfile",
            "sig.der",
            "-digest",
            "sm3",
            "-pkeyopt",
            "distid:1234567812345678",
        ])
        .output()
        .unwrap();
    out.status.success()
}

fn sign_with_openssl(dir: &Path, msg: &[u8]) -> Vec<u8> {
    std::fs::write(dir.join("msg"), msg).unwrap();
    let out = Command::new("openssl")
        .current_dir(dir)
        .args([
            "pkeyutl", "-sign", "-inkey", "key.pem", "-rawin", "-in", "msg",
        ])
        .args([
            "-digest",
            "sm3",
            "-pkeyopt",
            "distid:1234567812345678",
            "-out",
            "osig.der",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(dir.join("osig.der")).unwrap()
}

#[test]
fn openssl_interoperates() {
    if !openssl_available() {
        eprintln!("openssl not found: skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let key = SigningKey::generate().unwrap();
        let vk = key.verifying_key();
        std::fs::write(
            dir.path().join("pub.pem"),
            pem("PUBLIC KEY", &vk.to_public_key_der()),
        )
        .unwrap();
        std::fs::write(dir.path().join("key.pem"), pem("PRIVATE KEY", &pkcs8(&key))).unwrap();
        // OpenSSL reads our public key back to the same point.
        let out = Command::new("openssl")
            .current_dir(dir.path())
            .args(["pkey", "-pubin", "-in", "pub.pem", "-outform", "DER"])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, vk.to_public_key_der());

        for (i, msg) in [&b"abc"[..], b"", &vec![0x5a; 1000 + round]]
            .iter()
            .enumerate()
        {
            // Ours → OpenSSL.
            let sig = key.sign(msg).unwrap();
            assert!(
                verify_with_openssl(dir.path(), msg, &sig.to_der()),
                "round {round} msg {i}"
            );
            // Tampered message and signature must fail, so the check is real.
            let mut bad = msg.to_vec();
            bad.push(b'!');
            assert!(!verify_with_openssl(dir.path(), &bad, &sig.to_der()));
            let mut s = *sig.s();
            s[31] ^= 1;
            let tampered = Signature::from_components(*sig.r(), s);
            assert!(!verify_with_openssl(dir.path(), msg, &tampered.to_der()));

            // OpenSSL → ours.
            let osig = sign_with_openssl(dir.path(), msg);
            vk.verify_der(msg, &osig).unwrap();
            assert!(vk.verify_der(&bad, &osig).is_err());
        }
    }
}
