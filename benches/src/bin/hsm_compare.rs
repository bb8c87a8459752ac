//! Signatures per second of CA keys in a PKCS#11 token next to in-process keys
//! of the same algorithms, in the same run: for RSA-2048, P-256, P-384 and
//! Ed25519, a key in the token (`bench-ALG`, made on first use) and one in
//! process sign the same message in alternating runs of 400 ms, over five
//! rounds; each figure is the median of the rounds.
//!
//! The token's module and PIN come from the environment as for the server
//! (`TOPCA_PKCS11_MODULE`, `TOPCA_PKCS11_PIN` or `TOPCA_PKCS11_PIN_FILE`; for
//! SoftHSM2 also `SOFTHSM2_CONF`), the token from the URI argument:
//!
//! `cargo run --release -p topca-benches --bin hsm_compare -- 'pkcs11:token=bench'`

use std::{
    error::Error,
    time::{Duration, Instant},
};

use topca_benches::MESSAGE;
use topca_core::{
    KeyAlgorithm, OsRandom, SigningKey,
    key::pkcs11::{Pkcs11Config, Pkcs11Token, Pkcs11Uri},
};

/// How long one timed run lasts.
const RUN: Duration = Duration::from_millis(400);
/// Rounds per algorithm; figures are medians over them.
const ROUNDS: usize = 5;

fn main() -> Result<(), Box<dyn Error>> {
    let uri = std::env::args()
        .nth(1)
        .ok_or("usage: hsm_compare PKCS11-URI (the token, e.g. pkcs11:token=bench)")?;
    let token = Pkcs11Token::open(&Pkcs11Uri::parse(&uri)?, &Pkcs11Config::from_env()?)?;
    println!("| algorithm | in-process sign/s | PKCS#11 token sign/s | token / in-process |");
    println!("| --- | --- | --- | --- |");
    for algorithm in [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Ed25519,
    ] {
        let software = SigningKey::generate(algorithm, &OsRandom)?;
        let (token_key, _) = token.key_or_generate(&format!("bench-{algorithm}"), algorithm)?;
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            ours.push(rate(&software)?);
            theirs.push(rate(&token_key)?);
        }
        let (ours, theirs) = (median(ours), median(theirs));
        println!(
            "| {algorithm} | {ours:.0} | {theirs:.0} | {:.3} |",
            theirs / ours
        );
    }
    Ok(())
}

/// Signatures per second of `key` over one [`RUN`].
fn rate(key: &SigningKey) -> Result<f64, Box<dyn Error>> {
    let start = Instant::now();
    let mut count = 0u32;
    while start.elapsed() < RUN {
        key.sign_bytes(&MESSAGE)?;
        count += 1;
    }
    Ok(f64::from(count) / start.elapsed().as_secs_f64())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}
