//! Prints TopCA's signing and issuance rates next to `openssl speed` on the same
//! machine in the same run, one line per algorithm and metric:
//! `algorithm<TAB>metric<TAB>ours_per_s<TAB>openssl_per_s<TAB>ratio`, then a table.
//! Metrics: `sign` (raw signature), `issue` (whole leaf issuance through an
//! `IssuanceTemplate`, one thread), `issue_checked` (`CertificateAuthority::issue`,
//! which also decodes the certificate and verifies its signature) and
//! `issue_batch_2cores` (batches of 256 through the template's `issue_batch` on
//! two threads).
//! SM2 is also set against OpenSSL's P-256 (`sign_vs_p256`, `issue_vs_p256`):
//! SM2's prime has P-256's form, so that is the speed it can reach.
//! The table then shows the per-certificate overhead of template issuance: its
//! time minus the time of the CA key's signature over a TBS of the same size
//! (both measured in this run), and the TBS step (`write_tbs`) alone.
//!
//! `cargo run --release -p topca-benches --bin compare`

use std::{
    error::Error,
    process::Command,
    time::{Duration, Instant},
};

use topca_benches::{MESSAGE, issuance_fixture};
use topca_core::{KeyAlgorithm, OsRandom, SigningKey};

/// How long one timed run lasts, and how many runs give the median.
const RUN: Duration = Duration::from_millis(700);
/// Certificates per batch for the two-core metric.
const BATCH: usize = 256;
const RUNS: usize = 5;

/// One measured figure.
struct Row {
    algorithm: KeyAlgorithm,
    metric: &'static str,
    ours: f64,
    openssl: f64,
}

/// Per-certificate times of one algorithm, in microseconds.
struct Overhead {
    algorithm: KeyAlgorithm,
    /// Template issuance.
    issue_us: f64,
    /// The CA key's signature over a TBS of the issued size.
    sign_us: f64,
    /// `write_tbs` alone.
    tbs_us: f64,
    /// Checked issuance (`CertificateAuthority::issue`).
    checked_us: f64,
    /// Two-core batch issuance over one-thread template issuance.
    batch_speedup: f64,
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut rows = Vec::new();
    let mut overheads = Vec::new();
    for algorithm in KeyAlgorithm::ALL {
        let reference = openssl_sign_per_second(algorithm)?;
        let key = SigningKey::generate(algorithm, &OsRandom)?;
        let sign = median_rate(|| key.sign_bytes(&MESSAGE).map(drop).map_err(Into::into))?;
        let fixture = issuance_fixture(algorithm)?;
        let template = fixture.ca.template(&fixture.profile)?;
        let issue = median_rate(|| {
            template
                .issue(&fixture.request)
                .map(drop)
                .map_err(Into::into)
        })?;
        let issue_checked = median_rate(|| {
            fixture
                .ca
                .issue(fixture.request.clone(), &fixture.profile)
                .map(drop)
                .map_err(Into::into)
        })?;
        // The signature alone, by the CA key over a TBS like the ones issued.
        let mut tbs = Vec::with_capacity(4096);
        template.write_tbs(&fixture.request, &mut tbs)?;
        let ca_sign = median_rate(|| {
            fixture
                .ca
                .key()
                .sign_bytes(&tbs)
                .map(drop)
                .map_err(Into::into)
        })?;
        // The TBS step alone, 100 at a time so the clock is read rarely.
        let mut buffer = Vec::with_capacity(4096);
        let tbs_step = median_rate(|| {
            for _ in 0..100 {
                buffer.clear();
                template.write_tbs(&fixture.request, &mut buffer)?;
            }
            Ok(())
        })? * 100.0;
        // Both cores: batches issued by `issue_batch` on two threads.
        let batch: Vec<_> = (0..BATCH).map(|_| fixture.request.clone()).collect();
        let issue_batch = median_rate(|| {
            let issued = template.issue_batch(&batch, 2);
            issued.into_iter().try_for_each(|r| r.map(drop))?;
            Ok(())
        })? * BATCH as f64;
        overheads.push(Overhead {
            algorithm,
            issue_us: 1e6 / issue,
            sign_us: 1e6 / ca_sign,
            tbs_us: 1e6 / tbs_step,
            checked_us: 1e6 / issue_checked,
            batch_speedup: issue_batch / issue,
        });
        for (metric, ours) in [
            ("sign", sign),
            ("issue", issue),
            ("issue_checked", issue_checked),
            ("issue_batch_2cores", issue_batch),
        ] {
            let row = Row {
                algorithm,
                metric,
                ours,
                openssl: reference,
            };
            println!(
                "{}\t{}\t{:.0}\t{:.0}\t{:.3}",
                algorithm,
                metric,
                row.ours,
                row.openssl,
                row.ours / row.openssl
            );
            rows.push(row);
        }
    }
    // SM2 against the NIST curve of the same form and size.
    let p256 = rows
        .iter()
        .find(|r| r.algorithm == KeyAlgorithm::EcdsaP256)
        .map(|r| r.openssl);
    let sm2: Vec<(&'static str, f64)> = rows
        .iter()
        .filter(|r| r.algorithm == KeyAlgorithm::Sm2 && matches!(r.metric, "sign" | "issue"))
        .map(|r| (r.metric, r.ours))
        .collect();
    if let Some(p256) = p256 {
        for (metric, ours) in sm2 {
            let metric = if metric == "sign" {
                "sign_vs_p256"
            } else {
                "issue_vs_p256"
            };
            println!("sm2\t{metric}\t{ours:.0}\t{p256:.0}\t{:.3}", ours / p256);
            rows.push(Row {
                algorithm: KeyAlgorithm::Sm2,
                metric,
                ours,
                openssl: p256,
            });
        }
    }
    print_table(&rows);
    print_overheads(&overheads);
    Ok(())
}

/// Median operations per second over `RUNS` runs of `RUN` each, on this thread.
fn median_rate(mut op: impl FnMut() -> Result<(), Box<dyn Error>>) -> Result<f64, Box<dyn Error>> {
    let mut rates = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        let mut count = 0u64;
        while start.elapsed() < RUN {
            op()?;
            count += 1;
        }
        rates.push(count as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[RUNS / 2])
}

/// OpenSSL's single-thread sign/s for the algorithm, from `openssl speed -mr`.
fn openssl_sign_per_second(algorithm: KeyAlgorithm) -> Result<f64, Box<dyn Error>> {
    let (name, record) = match algorithm {
        KeyAlgorithm::Rsa2048 => ("rsa2048", "+R1:"),
        KeyAlgorithm::Rsa3072 => ("rsa3072", "+R1:"),
        KeyAlgorithm::Rsa4096 => ("rsa4096", "+R1:"),
        KeyAlgorithm::EcdsaP256 => ("ecdsap256", "+R5:"),
        KeyAlgorithm::EcdsaP384 => ("ecdsap384", "+R5:"),
        KeyAlgorithm::Ed25519 => ("ed25519", "+R8:"),
        KeyAlgorithm::Sm2 => ("sm2", "+R10:"),
    };
    let output = Command::new("openssl")
        .args(["speed", "-seconds", "1", "-mr", name])
        .output()
        .map_err(|e| format!("cannot run openssl speed (is OpenSSL 3 installed?): {e}"))?;
    // `openssl speed` writes its per-run `+R` records to stderr and summaries to stdout.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    parse_speed(&text, record).ok_or_else(|| {
        format!("could not read {record} from `openssl speed -mr {name}`:\n{text}").into()
    })
}

/// Reads `count / seconds` from a record such as `+R5:37795:256:0.99` (ECDSA) or
/// `+R8:19258:253:Ed25519:1.00` (EdDSA, SM2): count first, seconds last.
fn parse_speed(text: &str, record: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with(record))?;
    let fields: Vec<&str> = line[record.len()..].split(':').collect();
    let count: f64 = fields.first()?.parse().ok()?;
    let seconds: f64 = fields.last()?.parse().ok()?;
    (seconds > 0.0).then_some(count / seconds)
}

fn print_table(rows: &[Row]) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let openssl = Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!("\n{cpu}, one thread; reference: {openssl} (`openssl speed`, sign/s)\n");
    println!(
        "{:<8} {:<18} {:>12} {:>14} {:>7}",
        "alg", "metric", "TopCA /s", "OpenSSL sign/s", "ratio"
    );
    for row in rows {
        println!(
            "{:<8} {:<18} {:>12.0} {:>14.0} {:>7.2}",
            row.algorithm.name(),
            row.metric,
            row.ours,
            row.openssl,
            row.ours / row.openssl
        );
    }
}

fn print_overheads(overheads: &[Overhead]) {
    println!(
        "\nPer certificate, one thread, microseconds: template issuance, the CA key's \
         signature over the same TBS, their difference (the issuance overhead), the TBS \
         step alone, checked issuance (decode and verify included); and two-core batch \
         issuance over one-thread issuance\n"
    );
    println!(
        "{:<8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "alg", "issue", "sign", "overhead", "tbs step", "checked", "batch/issue"
    );
    for o in overheads {
        println!(
            "{:<8} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>12.2}",
            o.algorithm.name(),
            o.issue_us,
            o.sign_us,
            o.issue_us - o.sign_us,
            o.tbs_us,
            o.checked_us,
            o.batch_speedup
        );
    }
}
