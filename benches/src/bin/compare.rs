//! Prints TopCA's signing and issuance rates next to `openssl speed` on the same
//! machine in the same run, one line per algorithm and metric:
//! `algorithm<TAB>metric<TAB>ours_per_s<TAB>openssl_per_s<TAB>ratio`, then a table.
//! Metrics: `sign` (raw signature), `issue` (whole leaf issuance through an
//! `IssuanceTemplate`, one thread), `issue_checked` (`CertificateAuthority::issue`,
//! which also verifies the signature, except RSA's, which aws-lc checks as it
//! signs, and decodes the certificate it returns) and
//! `issue_batch_2cores` (batches of 1,024 through the template's `issue_batch` on
//! two threads).
//! SM2 is also set against OpenSSL's P-256 (`sign_vs_p256`, `issue_vs_p256`):
//! SM2's prime has P-256's form, so that is the speed it can reach.
//! `sign_paired` and `issue_paired` (for SM2 `sign_vs_p256_paired` and
//! `issue_vs_p256_paired`) set the same operations against OpenSSL's signer
//! called in this process through libcrypto (`openssl_reference`), the two
//! timed in alternating slices of 16 operations: the steadiest of the ratios,
//! since both sides run within milliseconds of each other.
//! The table then shows the per-certificate overhead of template issuance: its
//! time minus the time of the CA key's signature over a TBS of the same size
//! (the two timed in alternating slices of 16 operations), and the TBS step
//! (`write_tbs`) alone; the cost of the check after signing (`check x`: template
//! issuance with `with_signature_check(true)` over without, timed in turn, the
//! check the server's batch issuance makes); and the two-core batch's speed-up over the same
//! certificates issued one by one on one thread and over the same batches on
//! one thread (distinct requests, every certificate kept until the batch
//! ends; each timed batch by batch in turn with the other), and that of the
//! same certificates issued one by one on two threads, half each (sharing
//! nothing but the template; also timed in turn with one thread): the most
//! two cores of this machine give, whatever the batch does.
//!
//! On a shared machine the speed of both cores drifts by tens of percent within
//! a minute, so the figures are taken in rounds: each round runs `openssl
//! speed` (for SM2 also on P-256), then TopCA's `sign` and `issue`, then
//! `openssl speed` again in the reverse order, back to back; OpenSSL's figure
//! for the round is the mean of the two runs that bracket ours, so a drift
//! during the round weighs on both sides alike. The batch, checked and
//! overhead measurements follow, outside the brackets. A
//! ratio is the median over the rounds of that round's ratio; a rate is the
//! median over the rounds. The table adds the lowest and highest round's ratio
//! and `best/best`, our fastest round over OpenSSL's fastest.
//!
//! Both sides divide by wall-clock time: `openssl speed` runs with `-elapsed`
//! (by default it divides by its user CPU time, which leaves out time the
//! hypervisor or the kernel took, while our side counted it).
//!
//! `cargo run --release -p topca-benches --bin compare`

use std::{
    error::Error,
    process::Command,
    time::{Duration, Instant},
};

use topca_benches::{MESSAGE, issuance_fixture, openssl_reference::ReferenceSigner};
use topca_core::{IssuanceTemplate, IssueRequest, KeyAlgorithm, OsRandom, SigningKey};

/// How long one timed measurement lasts.
const RUN: Duration = Duration::from_millis(400);
/// Operations per slice when two operations are timed alternately.
const SLICE: u32 = 16;
/// Rounds per algorithm; figures are medians over them.
const ROUNDS: usize = 7;
/// Certificates per batch for the two-core metric.
const BATCH: usize = 1024;

/// One measured figure: medians over the rounds.
struct Row {
    algorithm: KeyAlgorithm,
    metric: String,
    ours: f64,
    openssl: f64,
    ratio: f64,
    /// The lowest and highest per-round ratio.
    range: (f64, f64),
    /// Our best round over OpenSSL's best round: noise only ever slows a run
    /// down, so the fastest rounds are the nearest to the machine's own speed.
    best_ratio: f64,
}

/// Per-certificate times of one algorithm, in microseconds.
struct Overhead {
    algorithm: KeyAlgorithm,
    /// Template issuance.
    issue_us: f64,
    /// The CA key's signature over a TBS of the issued size.
    sign_us: f64,
    /// The median over the rounds of their difference.
    overhead_us: f64,
    /// `write_tbs` alone.
    tbs_us: f64,
    /// Checked issuance (`CertificateAuthority::issue`).
    checked_us: f64,
    /// Template issuance with the signature check over template issuance
    /// without it, timed in turn.
    signature_check_ratio: f64,
    /// Two-core batches over the same certificates issued one by one.
    batch_speedup: f64,
    /// Two-core batches over the same batches on one thread.
    batch_scaling: f64,
    /// Two independent issuing threads over one thread: what the two cores give.
    two_threads_speedup: f64,
}

/// Reads one figure out of a round.
type Figure = fn(&Round) -> f64;

/// What one round measured for one algorithm (operations per second).
struct Round {
    /// OpenSSL's sign/s: the mean of its runs before and after ours.
    openssl: f64,
    /// OpenSSL's P-256 sign/s, measured in SM2's rounds only.
    openssl_p256: Option<f64>,
    sign: f64,
    issue: f64,
    /// Ours and OpenSSL's in-process signer (P-256's for SM2), per second,
    /// timed in alternating slices: signing…
    paired_sign: (f64, f64),
    /// …and issuance.
    paired_issue: (f64, f64),
    issue_checked: f64,
    /// Template issuance, in microseconds, measured in slices alternating with…
    paired_issue_us: f64,
    /// …the CA key's signature alone over a TBS of the issued size.
    paired_sign_us: f64,
    tbs_step: f64,
    /// Template issuance with the signature check, in microseconds, measured
    /// in slices alternating with…
    paired_checked_us: f64,
    /// …template issuance without it.
    paired_unchecked_us: f64,
    /// Certificates per second in two-core batches.
    issue_batch: f64,
    /// Two-core batches over the same certificates issued one by one, timed in turn.
    batch_speedup: f64,
    /// Two-core batches over the same batches on one thread, timed in turn.
    batch_scaling: f64,
    /// The same certificates issued one by one on two threads over one, timed in turn.
    two_threads_speedup: f64,
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut rows = Vec::new();
    let mut overheads = Vec::new();
    for algorithm in KeyAlgorithm::ALL {
        let key = SigningKey::generate(algorithm, &OsRandom)?;
        let fixture = issuance_fixture(algorithm)?;
        let template = fixture.ca.template(&fixture.profile)?;
        let checking = fixture
            .ca
            .template(&fixture.profile)?
            .with_signature_check(true);
        let mut tbs = Vec::with_capacity(4096);
        template.write_tbs(&fixture.request, &mut tbs)?;
        let batch: Vec<_> = (0..BATCH).map(|_| fixture.request.clone()).collect();
        let mut reference = ReferenceSigner::new(algorithm)?;
        let mut rounds = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            // The figures set against OpenSSL's, between its runs: the
            // algorithm's own, then P-256's (SM2 only), ours, and back.
            let openssl_before = openssl_sign_per_second(algorithm)?;
            let p256_before = p256_reference(algorithm)?;
            let sign_one = || -> Result<(), Box<dyn Error>> {
                key.sign_bytes(&MESSAGE)?;
                Ok(())
            };
            let sign = rate(sign_one)?;
            let issue_one = || -> Result<(), Box<dyn Error>> {
                template.issue(&fixture.request)?;
                Ok(())
            };
            let issue = rate(issue_one)?;
            let openssl_p256 = match (p256_before, p256_reference(algorithm)?) {
                (Some(before), Some(after)) => Some((before + after) / 2.0),
                _ => None,
            };
            let openssl = (openssl_before + openssl_sign_per_second(algorithm)?) / 2.0;
            // The same comparisons against OpenSSL's signer in this process,
            // in alternating slices of 16 operations: both sides within
            // milliseconds of each other.
            let (paired_sign_ours_us, paired_sign_openssl_us) =
                alternating_us(SLICE, sign_one, || reference.sign())?;
            let (paired_issue_ours_us, paired_issue_openssl_us) =
                alternating_us(SLICE, issue_one, || reference.sign())?;
            // Batches through `issue_batch` (distinct requests, every
            // certificate kept until the batch ends), each timed in turn with
            // the same certificates issued one by one, and with the same batch
            // on one thread.
            let (template, batch) = (&template, &batch);
            let batch_on = |threads: usize| {
                move || -> Result<(), Box<dyn Error>> {
                    let issued = template.issue_batch(batch, threads);
                    issued.into_iter().try_for_each(|r| r.map(drop))?;
                    Ok(())
                }
            };
            let one_by_one = || -> Result<(), Box<dyn Error>> {
                for request in batch {
                    template.issue(request)?;
                }
                Ok(())
            };
            let (batch_us, singles_us) = alternating_us(1, batch_on(2), one_by_one)?;
            let (batch_us_again, batch_one_thread_us) =
                alternating_us(1, batch_on(2), batch_on(1))?;
            // The machine's own two-core ceiling: the same certificates issued
            // one by one on two threads, half each, timed in turn with one thread.
            let (two_threads_us, singles_us_again) =
                alternating_us(1, || one_by_one_on_two_threads(template, batch), one_by_one)?;
            let issue_checked = rate(|| {
                fixture
                    .ca
                    .issue(fixture.request.clone(), &fixture.profile)
                    .map(drop)
                    .map_err(Into::into)
            })?;
            // Issuance and the signature alone (by the CA key over a TBS like
            // the ones issued) in alternating slices: their difference is the
            // issuance overhead, smaller than the drift between two runs.
            let (paired_issue_us, paired_sign_us) = alternating_us(SLICE, issue_one, || {
                fixture.ca.key().sign_bytes(&tbs)?;
                Ok(())
            })?;
            // The check after signing alone: template issuance with it and
            // without it, in alternating slices.
            let (paired_checked_us, paired_unchecked_us) = alternating_us(
                SLICE,
                || {
                    checking.issue(&fixture.request)?;
                    Ok(())
                },
                issue_one,
            )?;
            // The TBS step alone, 100 at a time so the clock is read rarely.
            let mut buffer = Vec::with_capacity(4096);
            let tbs_step = rate(|| {
                for _ in 0..100 {
                    buffer.clear();
                    template.write_tbs(&fixture.request, &mut buffer)?;
                }
                Ok(())
            })? * 100.0;
            rounds.push(Round {
                openssl,
                openssl_p256,
                sign,
                issue,
                paired_sign: (1e6 / paired_sign_ours_us, 1e6 / paired_sign_openssl_us),
                paired_issue: (1e6 / paired_issue_ours_us, 1e6 / paired_issue_openssl_us),
                issue_checked,
                paired_issue_us,
                paired_sign_us,
                tbs_step,
                paired_checked_us,
                paired_unchecked_us,
                issue_batch: BATCH as f64 * 1e6 / batch_us,
                batch_speedup: singles_us / batch_us,
                batch_scaling: batch_one_thread_us / batch_us_again,
                two_threads_speedup: singles_us_again / two_threads_us,
            });
        }
        let med = |f: &dyn Fn(&Round) -> f64| median(rounds.iter().map(f).collect());
        let best = |f: &dyn Fn(&Round) -> f64| rounds.iter().map(f).fold(0.0, f64::max);

        overheads.push(Overhead {
            algorithm,
            issue_us: med(&|r| r.paired_issue_us),
            sign_us: med(&|r| r.paired_sign_us),
            overhead_us: med(&|r| r.paired_issue_us - r.paired_sign_us),
            tbs_us: 1e6 / med(&|r| r.tbs_step),
            checked_us: 1e6 / med(&|r| r.issue_checked),
            signature_check_ratio: med(&|r| r.paired_checked_us / r.paired_unchecked_us),
            batch_speedup: med(&|r| r.batch_speedup),
            batch_scaling: med(&|r| r.batch_scaling),
            two_threads_speedup: med(&|r| r.two_threads_speedup),
        });
        let metrics: [(&str, Figure); 4] = [
            ("sign", |r| r.sign),
            ("issue", |r| r.issue),
            ("issue_checked", |r| r.issue_checked),
            ("issue_batch_2cores", |r| r.issue_batch),
        ];
        let mut push = |metric: String, ours: Figure, reference: Figure| {
            let row = Row {
                algorithm,
                ours: med(&|r| ours(r)),
                openssl: med(&|r| reference(r)),
                ratio: med(&|r| ours(r) / reference(r)),
                range: rounds
                    .iter()
                    .map(|r| ours(r) / reference(r))
                    .fold((f64::INFINITY, 0.0), |(lo, hi), x| (lo.min(x), hi.max(x))),
                best_ratio: best(&|r| ours(r)) / best(&|r| reference(r)),
                metric,
            };
            println!(
                "{}\t{}\t{:.0}\t{:.0}\t{:.3}",
                algorithm, row.metric, row.ours, row.openssl, row.ratio
            );
            rows.push(row);
        };
        for (metric, ours) in metrics {
            push(metric.to_owned(), ours, |r| r.openssl);
        }
        // SM2 against the NIST curve of the same form and size.
        let versus = if algorithm == KeyAlgorithm::Sm2 {
            for (metric, ours) in &metrics[..2] {
                push(format!("{metric}_vs_p256"), *ours, |r| {
                    r.openssl_p256.unwrap_or(f64::NAN)
                });
            }
            "_vs_p256"
        } else {
            ""
        };
        // Against OpenSSL's signer in this process, timed in turn.
        push(
            format!("sign{versus}_paired"),
            |r| r.paired_sign.0,
            |r| r.paired_sign.1,
        );
        push(
            format!("issue{versus}_paired"),
            |r| r.paired_issue.0,
            |r| r.paired_issue.1,
        );
    }
    print_table(&rows);
    print_overheads(&overheads);
    Ok(())
}

/// Operations per second of `op` on this thread over one [`RUN`].
fn rate(mut op: impl FnMut() -> Result<(), Box<dyn Error>>) -> Result<f64, Box<dyn Error>> {
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < RUN {
        op()?;
        count += 1;
    }
    Ok(count as f64 / start.elapsed().as_secs_f64())
}

/// Microseconds per operation of `a` and of `b`, measured in alternating slices
/// of `slice` operations for two [`RUN`]s in all, so that a change in the
/// machine's speed weighs on both alike.
fn alternating_us(
    slice: u32,
    mut a: impl FnMut() -> Result<(), Box<dyn Error>>,
    mut b: impl FnMut() -> Result<(), Box<dyn Error>>,
) -> Result<(f64, f64), Box<dyn Error>> {
    let (mut time_a, mut time_b, mut slices) = (Duration::ZERO, Duration::ZERO, 0u32);
    while time_a + time_b < 2 * RUN {
        let start = Instant::now();
        for _ in 0..slice {
            a()?;
        }
        time_a += start.elapsed();
        let start = Instant::now();
        for _ in 0..slice {
            b()?;
        }
        time_b += start.elapsed();
        slices += 1;
    }
    let per_op = |t: Duration| t.as_secs_f64() * 1e6 / f64::from(slices * slice);
    Ok((per_op(time_a), per_op(time_b)))
}

/// Issues `requests` one by one on two threads, half each (each certificate
/// dropped as it is made): two cores working with nothing but the template shared.
fn one_by_one_on_two_threads(
    template: &IssuanceTemplate<'_>,
    requests: &[IssueRequest],
) -> Result<(), Box<dyn Error>> {
    let (first, second) = requests.split_at(requests.len() / 2);
    let half = |part: &[IssueRequest]| -> Result<(), String> {
        part.iter()
            .try_for_each(|r| template.issue(r).map(drop).map_err(|e| e.to_string()))
    };
    let helper_result = std::thread::scope(|scope| {
        let helper = scope.spawn(|| half(second));
        half(first)?;
        helper
            .join()
            .unwrap_or_else(|_| Err("a measuring thread panicked".into()))
    });
    Ok(helper_result?)
}

/// The median of a non-empty list (the upper one of the middle two).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// OpenSSL's P-256 sign/s, measured in SM2's rounds only.
fn p256_reference(algorithm: KeyAlgorithm) -> Result<Option<f64>, Box<dyn Error>> {
    match algorithm {
        KeyAlgorithm::Sm2 => openssl_sign_per_second(KeyAlgorithm::EcdsaP256).map(Some),
        _ => Ok(None),
    }
}

/// OpenSSL's single-thread sign/s for the algorithm over wall-clock time,
/// from `openssl speed -elapsed -mr`.
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
        .args(["speed", "-elapsed", "-seconds", "1", "-mr", name])
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
    println!(
        "\n{cpu}, one thread unless named; reference: {openssl} (`openssl speed -elapsed`, sign/s, \
         the mean of a run before and one after ours in each round; `_paired` rows: \
         OpenSSL's signer in this process, timed in turn with ours); \
         medians of {ROUNDS} rounds, the lowest and highest round's ratio, and the \
         ratio of the two sides' fastest rounds\n"
    );
    println!(
        "{:<8} {:<20} {:>10} {:>14} {:>7} {:>13} {:>9}",
        "alg", "metric", "TopCA /s", "OpenSSL sign/s", "ratio", "rounds", "best/best"
    );
    for row in rows {
        println!(
            "{:<8} {:<20} {:>10.0} {:>14.0} {:>7.2} {:>6.2}–{:<6.2} {:>9.2}",
            row.algorithm.name(),
            row.metric,
            row.ours,
            row.openssl,
            row.ratio,
            row.range.0,
            row.range.1,
            row.best_ratio
        );
    }
}

fn print_overheads(overheads: &[Overhead]) {
    println!(
        "\nPer certificate, one thread, microseconds: template issuance, the CA key's \
         signature over the same TBS, their difference (the issuance overhead), the TBS \
         step alone, checked issuance (signature check and decode included), template \
         issuance with the signature check over without it (timed in turn); two-core batches \
         over the same certificates issued one by one and over the same batches on one \
         thread, and the same certificates issued one by one on two threads over one \
         (what this machine's two cores give; each timed in turn with the other)\n"
    );
    println!(
        "{:<8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12} {:>10} {:>16}",
        "alg",
        "issue",
        "sign",
        "overhead",
        "tbs step",
        "checked",
        "check x",
        "batch/issue",
        "batch 2/1",
        "2 threads/issue"
    );
    for o in overheads {
        println!(
            "{:<8} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>12.2} {:>10.2} {:>16.2}",
            o.algorithm.name(),
            o.issue_us,
            o.sign_us,
            o.overhead_us,
            o.tbs_us,
            o.checked_us,
            o.signature_check_ratio,
            o.batch_speedup,
            o.batch_scaling,
            o.two_threads_speedup
        );
    }
}
