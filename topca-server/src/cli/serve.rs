//! Serving: logs, the first start or load, the listener, the background jobs,
//! and the graceful stop on SIGTERM or SIGINT.

use std::{sync::Arc, time::Duration};

use clap::Args;
use topca_server::{
    config, lifecycle,
    logging::LogFormat,
    serve::{Drained, ServeLimits},
};

use super::non_empty;

/// How to serve.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// The data directory and configuration file.
    #[command(flatten)]
    pub data: super::DataArgs,
    /// Where to listen, ADDRESS:PORT [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR:PORT", env = "TOPCA_LISTEN", value_parser = non_empty)]
    pub listen: Option<String>,
    /// The algorithm of the CAs made on first start: rsa2048, rsa3072, rsa4096,
    /// p256, p384, ed25519 or sm2 [default: sm2].
    #[arg(long, value_name = "ALG", env = "TOPCA_ALGORITHM", value_parser = non_empty)]
    pub algorithm: Option<String>,
    /// Demonstration accounts on the first start (refused later on a CA first
    /// started without them).
    #[arg(long, env = "TOPCA_DEMO")]
    pub demo: bool,
    /// Log lines as text or json [default: text, or `log_format` of the configuration].
    #[arg(long, value_name = "FORMAT", env = "TOPCA_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Seconds to finish requests and jobs on SIGTERM/SIGINT before cutting them
    /// [default: 30, or `shutdown_timeout` of the configuration].
    #[arg(long, value_name = "SECONDS", env = "TOPCA_SHUTDOWN_TIMEOUT",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub shutdown_timeout: Option<u64>,
}

/// Serves until SIGTERM or SIGINT; `Err` also when the stop had to cut requests
/// or jobs (exit status 1).
pub fn run(args: &ServeArgs) -> Result<(), String> {
    let flags = topca_server::setup::Flags {
        listen: args.listen.clone(),
        algorithm: args.algorithm.clone(),
        demo: args.demo,
        ..args.data.flags().0
    };
    let options = super::FlagsOf(flags.clone()).options()?;
    let operations = topca_server::setup::config_file(flags.config.clone(), &options.data_dir)
        .map(|path| config::operations(&path))
        .transpose()
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let format = args
        .log_format
        .or(operations.log_format)
        .unwrap_or_default();
    topca_server::logging::init(format, operations.log_level.as_deref())?;
    let drain = Duration::from_secs(
        args.shutdown_timeout
            .or(operations.shutdown_timeout)
            .unwrap_or(30)
            .clamp(1, 3600),
    );
    let served = serve(options, drain);
    if let Err(message) = &served {
        tracing::error!(error = %message, "the server stopped on an error");
    }
    served
}

/// Loads or prepares everything, serves, and stops within `drain`.
fn serve(options: topca_server::setup::Options, drain: Duration) -> Result<(), String> {
    // Held while the server runs: a second server and `restore` are refused.
    let _lock = topca_server::data_lock::DataDirLock::acquire(&options.data_dir)
        .map_err(|e| e.to_string())?;
    let (state, report) = topca_server::setup::start(&options).map_err(|e| e.to_string())?;
    let runtime =
        topca_server::serve::runtime().map_err(|e| format!("cannot start the runtime: {e}"))?;
    let outcome = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
        let host = state
            .base_url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split(['/', ':']).next())
            .unwrap_or("127.0.0.1")
            .to_owned();
        let tls = topca_server::tls::server_config(&options.tls, &state, &host)
            .map_err(|e| e.to_string())?;
        println!("TopCA is running.");
        for line in report {
            println!("  {line}");
        }
        tracing::info!(listen = %options.listen, base_url = %state.base_url, "TopCA is running");
        let state = Arc::new(state);
        // SIGHUP reloads TLS files (see tls_reload) and never stops the server.
        tokio::spawn(topca_server::tls_reload::survive_hangups());
        let (signal, stop) = lifecycle::stop_pair();
        let jobs = [
            tokio::spawn(topca_server::refresh_crls(Arc::clone(&state), stop.clone())),
            // Mails a stopped server left, then retries, for as long as it runs.
            tokio::spawn(topca_server::mail_outbox::send_queued(
                Arc::clone(&state.outbox),
                stop.clone(),
            )),
        ];
        let app = topca_server::router(Arc::clone(&state));
        let signalled = Arc::new(std::sync::OnceLock::new());
        let at_signal = Arc::clone(&signalled);
        let mut stopping = stop.clone();
        let drained = topca_server::serve::serve_draining(
            listener,
            tls,
            app,
            ServeLimits::default(),
            async move {
                tokio::select! {
                    name = lifecycle::terminated() => tracing::info!(signal = name, "stopping"),
                    () = stopping.stopped() => {}
                }
                let _first = at_signal.set(tokio::time::Instant::now());
            },
            drain,
        )
        .await;
        signal.stop();
        // The jobs get what the drain left of the same budget.
        let spent = signalled.get().map_or(Duration::ZERO, |at| at.elapsed());
        let jobs_done = finish_jobs(jobs, drain.saturating_sub(spent)).await;
        drop(stop);
        // The last references to the pools go with the state.
        drop(state);
        Ok::<_, String>((drained, jobs_done))
    });
    // Blocking work still running (a cut request's database call) is not waited for.
    runtime.shutdown_timeout(Duration::from_secs(1));
    let (drained, jobs_done) = outcome?;
    match (drained, jobs_done) {
        (Drained::Clean, true) => {
            tracing::info!("stopped cleanly");
            Ok(())
        }
        (Drained::Cut, _) => Err(format!(
            "requests were still running after {} s and were cut",
            drain.as_secs()
        )),
        (Drained::Clean, false) => Err(format!(
            "background jobs were still running after {} s and were cut",
            drain.as_secs()
        )),
    }
}

/// Waits up to `limit` for the background jobs to finish their current run;
/// whether they all did.
async fn finish_jobs<const N: usize>(
    jobs: [tokio::task::JoinHandle<()>; N],
    limit: Duration,
) -> bool {
    let all = async {
        for job in jobs {
            if let Err(e) = job.await {
                tracing::error!(error = %e, "a background job failed");
            }
        }
    };
    tokio::time::timeout(limit, all).await.is_ok()
}
