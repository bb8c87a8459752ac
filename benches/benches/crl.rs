//! CRL production time for 10,000 and 100,000 entries (RSA-2048 issuing CA); the
//! million-entry figure, peak memory and the Python `cryptography` reference come
//! from `cargo run --release -p topca-benches --bin crl_compare`.
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn
#![allow(clippy::unwrap_used, clippy::expect_used)] // bench setup fails loudly

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use topca_benches::{build_bench_crl, issuance_fixture};
use topca_core::KeyAlgorithm;

fn crl(c: &mut Criterion) {
    let fixture = issuance_fixture(KeyAlgorithm::Rsa2048).unwrap();
    let mut group = c.benchmark_group("crl");
    group.sample_size(10);
    for entries in [10_000u64, 100_000] {
        group.throughput(Throughput::Elements(entries));
        group.bench_with_input(BenchmarkId::from_parameter(entries), &entries, |b, &n| {
            b.iter(|| build_bench_crl(&fixture.ca, n).unwrap());
        });
    }
    group.finish();
}

criterion_group!(benches, crl);
criterion_main!(benches);
