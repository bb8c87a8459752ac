//! Certificate issuance per algorithm: `issue` is the whole leaf issuance (serial,
//! TBS, encode, sign, assemble, decode and verify the result); `prepare` is all of
//! it but the signature and the check, so the overhead apart from signing shows.
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use topca_benches::issuance_fixture;
use topca_core::KeyAlgorithm;

fn issuance(c: &mut Criterion) {
    let mut group = c.benchmark_group("issuance");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    for algorithm in KeyAlgorithm::ALL {
        let fixture = match issuance_fixture(algorithm) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("could not set up {algorithm}: {e}");
                continue;
            }
        };
        let (ca, request, profile) = (&fixture.ca, &fixture.request, &fixture.profile);
        group.bench_function(format!("issue/{algorithm}"), |b| {
            b.iter(|| ca.issue(request.clone(), profile))
        });
        group.bench_function(format!("prepare/{algorithm}"), |b| {
            b.iter(|| {
                ca.prepare(request.clone(), profile)
                    .map(|p| p.tbs_der().len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, issuance);
criterion_main!(benches);
