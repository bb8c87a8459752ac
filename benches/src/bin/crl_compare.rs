//! CRL production next to Python `cryptography` on the same machine in the same
//! run, for 10,000, 100,000 and 1,000,000 entries: time (best of three), peak
//! memory added by the build (Linux `VmHWM` less the resident size before it), and
//! the CRL's size. Each build runs in a fresh child process so peaks don't mix.
//! Prints `entries<TAB>ours_s<TAB>python_s<TAB>speedup<TAB>ours_peak/crl_size`.
//!
//! `cryptography`'s builder copies its entry list on every addition, so its time
//! grows with the square of the entries: past 10,000 entries it runs once, and a
//! run longer than [`PYTHON_LIMIT`] is stopped and reported as a lower bound (`>`).
//!
//! `cargo run --release -p topca-benches --bin crl_compare`

use std::{
    error::Error,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use topca_benches::{build_bench_crl, issuance_fixture};
use topca_core::KeyAlgorithm;

const SIZES: [u64; 3] = [10_000, 100_000, 1_000_000];
/// The longest a reference run may take.
const PYTHON_LIMIT: Duration = Duration::from_secs(300);

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    if let (Some(flag), Some(n)) = (args.next(), args.next())
        && flag == "--child"
    {
        return child(n.parse()?);
    }
    let me = std::env::current_exe()?;
    println!("entries\tours_s\tpython_s\tspeedup\tours_peak_over_crl_size");
    for entries in SIZES {
        let ours =
            best_of_three(|| run(Command::new(&me).args(["--child", &entries.to_string()])))?;
        let reference = || {
            run(Command::new("python3").args(["benches/crl_reference.py", &entries.to_string()]))
        };
        let python = if entries <= 10_000 {
            Some(best_of_three(reference)?)
        } else {
            reference().ok()
        };
        let (python_s, bound) = match python {
            Some(p) => (p.seconds, ""),
            None => (PYTHON_LIMIT.as_secs_f64(), ">"),
        };
        println!(
            "{entries}\t{:.3}\t{bound}{python_s:.3}\t{bound}{:.1}\t{:.2}",
            ours.seconds,
            python_s / ours.seconds,
            ours.peak as f64 / ours.size as f64
        );
        println!(
            "#  CRL {:.1} MB; peak memory added: ours {:.1} MB, python {} (with its interpreter)",
            ours.size as f64 / 1e6,
            ours.peak as f64 / 1e6,
            python.map_or("not measured (stopped)".to_owned(), |p| format!(
                "{:.1} MB",
                p.peak as f64 / 1e6
            ))
        );
    }
    Ok(())
}

/// One build's figures.
#[derive(Clone, Copy)]
struct Figures {
    seconds: f64,
    peak: u64,
    size: u64,
}

fn best_of_three(
    mut measure: impl FnMut() -> Result<Figures, Box<dyn Error>>,
) -> Result<Figures, Box<dyn Error>> {
    let mut best = measure()?;
    for _ in 0..2 {
        let next = measure()?;
        if next.seconds < best.seconds {
            best = next;
        }
    }
    Ok(best)
}

/// Runs `command` to completion, or stops it after [`PYTHON_LIMIT`] (an error).
fn run(command: &mut Command) -> Result<Figures, Box<dyn Error>> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + PYTHON_LIMIT;
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            return Err(format!("{command:?} took longer than {PYTHON_LIMIT:?}").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let text = String::from_utf8(out.stdout)?;
    let fields: Vec<&str> = text.trim().split('\t').collect();
    match fields[..] {
        [seconds, peak, size] => Ok(Figures {
            seconds: seconds.parse()?,
            peak: peak.parse()?,
            size: size.parse()?,
        }),
        _ => Err(format!("unexpected output {text:?}").into()),
    }
}

/// Builds one CRL and prints `seconds<TAB>peak_added_bytes<TAB>crl_bytes`.
fn child(entries: u64) -> Result<(), Box<dyn Error>> {
    let fixture = issuance_fixture(KeyAlgorithm::Rsa2048)?;
    let before = status_kb("VmRSS:")?;
    let start = Instant::now();
    let crl = build_bench_crl(&fixture.ca, entries)?;
    let seconds = start.elapsed().as_secs_f64();
    let peak = status_kb("VmHWM:")?.saturating_sub(before);
    println!("{seconds}\t{}\t{}", peak * 1024, crl.der.len());
    Ok(())
}

/// A `/proc/self/status` figure in kB.
fn status_kb(field: &str) -> Result<u64, Box<dyn Error>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("{field} not in /proc/self/status").into())
}
