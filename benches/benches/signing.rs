//! Raw signing (hash + sign) of a 256-byte message, per algorithm.
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use topca_benches::MESSAGE;
use topca_core::{KeyAlgorithm, OsRandom, SigningKey};

/// Signs [`MESSAGE`] with a fresh key of every algorithm.
fn signing(c: &mut Criterion) {
    let mut group = c.benchmark_group("sign");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    for algorithm in KeyAlgorithm::ALL {
        let Ok(key) = SigningKey::generate(algorithm, &OsRandom) else {
            eprintln!("could not generate a {algorithm} key");
            continue;
        };
        group.bench_function(algorithm.name(), |b| b.iter(|| key.sign_bytes(&MESSAGE)));
    }
    group.finish();
}

criterion_group!(benches, signing);
criterion_main!(benches);
