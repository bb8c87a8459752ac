//! SM2 signing, verification and fixed-base multiplication.

#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use topca_sm2::SigningKey;
use topca_sm2::fixed_base::mul_base;
use topca_sm2::scalar::Scalar;

fn bench(c: &mut Criterion) {
    let key = match SigningKey::from_bytes(&[0x5a; 32]) {
        Ok(k) => k,
        Err(e) => return eprintln!("key: {e}"),
    };
    let msg = vec![0xa5u8; 1024];
    c.bench_function("sign_1k", |b| b.iter(|| key.sign(black_box(&msg))));
    let sig = match key.sign(&msg) {
        Ok(s) => s,
        Err(e) => return eprintln!("sign: {e}"),
    };
    let vk = key.verifying_key().clone();
    c.bench_function("verify_1k", |b| {
        b.iter(|| vk.verify(black_box(&msg), sig.r(), sig.s()))
    });
    let tabled = vk.clone().with_full_table();
    c.bench_function("verify_1k_full_table", |b| {
        b.iter(|| tabled.verify(black_box(&msg), sig.r(), sig.s()))
    });
    c.bench_function("full_table_build", |b| {
        b.iter(|| black_box(vk.clone()).with_full_table())
    });
    let k = Scalar::reduce_bytes(&[0x3c; 32]);
    c.bench_function("fixed_base_mul", |b| b.iter(|| mul_base(black_box(&k))));
    let x = topca_sm2::field::FieldElement::ONE.add(&topca_sm2::field::FieldElement::ONE);
    c.bench_function("field_mul", |b| b.iter(|| black_box(x).mul(black_box(&x))));
    c.bench_function("field_square", |b| b.iter(|| black_box(x).square()));
    c.bench_function("field_invert", |b| b.iter(|| black_box(x).invert()));
}

criterion_group!(benches, bench);
criterion_main!(benches);
