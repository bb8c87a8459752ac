//! Certificate issuance per algorithm: `issue` is the whole checked leaf issuance
//! (serial, TBS, encode, sign, assemble, decode and verify the result); `prepare` is
//! all of it but the signature and the check. `template` is issuance through an
//! `IssuanceTemplate` (TBS written from pre-encoded parts, signed, assembled);
//! `overhead` is the template's TBS step alone (`write_tbs`: checks, serial,
//! validity, names, key identifier, extensions), i.e. template issuance minus the
//! signature and the final assembly.
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
        let template = match ca.template(profile) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("could not make a template for {algorithm}: {e}");
                continue;
            }
        };
        group.bench_function(format!("template/{algorithm}"), |b| {
            b.iter(|| template.issue(request))
        });
        let mut buffer = Vec::with_capacity(4096);
        group.bench_function(format!("overhead/{algorithm}"), |b| {
            b.iter(|| {
                buffer.clear();
                template
                    .write_tbs(request, &mut buffer)
                    .map(|_| buffer.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, issuance);
criterion_main!(benches);
