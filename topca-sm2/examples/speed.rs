//! Operations per second on a busy machine: the best of many short
//! wall-clock samples (the least disturbed one), plus the median.

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;
use topca_sm2::SigningKey;
use topca_sm2::field::FieldElement;
use topca_sm2::fixed_base::mul_base;
use topca_sm2::scalar::Scalar;

fn rate(name: &str, mut f: impl FnMut()) {
    // Calibrate a batch of about 20 ms.
    let t = Instant::now();
    let mut batch = 0u32;
    while t.elapsed().as_secs_f64() < 0.02 {
        f();
        batch += 1;
    }
    let mut per_op: Vec<f64> = (0..60)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..batch {
                f();
            }
            t.elapsed().as_secs_f64() / f64::from(batch)
        })
        .collect();
    per_op.sort_by(|a, b| a.total_cmp(b));
    let best = per_op[0];
    let median = per_op[per_op.len() / 2];
    println!(
        "{name:16} best {:>9.0}/s {:>9.3} µs   median {:>9.0}/s {:>9.3} µs",
        1.0 / best,
        best * 1e6,
        1.0 / median,
        median * 1e6
    );
}

fn main() {
    let which: Vec<String> = std::env::args().skip(1).collect();
    let want = |s: &str| which.is_empty() || which.iter().any(|w| w == s);
    let key = SigningKey::from_bytes(&[0x5a; 32]).unwrap();
    let msg = vec![0xa5u8; 1024];
    let sig = key.sign(&msg).unwrap();
    let vk = key.verifying_key().clone();
    let k = Scalar::reduce_bytes(&[0x3c; 32]);
    let x = FieldElement::ONE.add(&FieldElement::ONE).invert();
    if want("sign") {
        rate("sign_1k", || {
            black_box(key.sign(black_box(&msg)).unwrap());
        });
    }
    if want("verify") {
        rate("verify_1k", || {
            vk.verify(black_box(&msg), sig.r(), sig.s()).unwrap();
        });
    }
    if want("base") {
        rate("fixed_base_mul", || {
            black_box(mul_base(black_box(&k)));
        });
    }
    if want("field") {
        let mut y = x;
        rate("field_mul x1000", || {
            for _ in 0..1000 {
                y = y.mul(&x);
            }
            black_box(y);
        });
        rate("field_sqr x1000", || {
            for _ in 0..1000 {
                y = y.square();
            }
            black_box(y);
        });
        rate("field_invert", || {
            black_box(black_box(x).invert());
        });
    }
    if want("hash") {
        rate("sm3 Z||1k", || {
            black_box(vk.digest(black_box(&msg)));
        });
    }
}
