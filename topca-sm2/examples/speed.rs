//! Operations per second on a busy machine, two ways:
//! * like `openssl speed`: operations during 3 s of wall time divided by the
//!   CPU time this thread actually got (user + system, from /proc), so time
//!   spent descheduled by other processes does not count;
//! * the best and median of 60 short wall-clock samples.
//!
//! `cargo run --release -p topca-sm2 --example speed [sign|verify|base|field|mul|sqr|invert|hash]…`
//! (`field` is `mul`, `sqr` and `invert` together)
//!
//! With `SPEED_COUNT=N` each selected operation runs exactly `N` times and
//! nothing is timed, for counting under `perf stat -e cycles:u,instructions:u`
//! (cycles the process itself used, steadier than time on a shared machine).

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;
use topca_sm2::SigningKey;
use topca_sm2::field::FieldElement;
use topca_sm2::fixed_base::mul_base;
use topca_sm2::scalar::Scalar;

/// CPU time of the current thread in seconds (100 Hz ticks from /proc).
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // stat fields 14 and 15 (utime, stime) are at 11 and 12 after the name.
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

fn rate(name: &str, mut f: impl FnMut()) {
    if let Ok(n) = std::env::var("SPEED_COUNT") {
        let n: u64 = n.parse().unwrap();
        for _ in 0..n {
            f();
        }
        println!("{name:16} {n} ops");
        return;
    }
    let wall = Instant::now();
    let cpu = cpu_seconds();
    let mut n = 0u64;
    while wall.elapsed().as_secs_f64() < 3.0 {
        for _ in 0..20 {
            f();
        }
        n += 20;
    }
    let cpu = cpu_seconds() - cpu;
    println!(
        "{name:16} {n} ops in {cpu:.2} s CPU ({:.2} s wall): {:>9.0}/s per CPU second",
        wall.elapsed().as_secs_f64(),
        n as f64 / cpu
    );
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
    let mut y = x;
    if want("field") || want("mul") {
        rate("field_mul x1000", || {
            for _ in 0..1000 {
                y = y.mul(&x);
            }
            black_box(y);
        });
    }
    if want("field") || want("sqr") {
        rate("field_sqr x1000", || {
            for _ in 0..1000 {
                y = y.square();
            }
            black_box(y);
        });
    }
    if want("field") || want("invert") {
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
