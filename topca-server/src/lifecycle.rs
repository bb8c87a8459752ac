//! Stopping: the signals that end the server (SIGTERM, SIGINT) and the [`Stop`]
//! handle background jobs watch, so a job finishes its current run and returns
//! instead of being cut in the middle of a CRL or a mail.

use tokio::sync::watch;

/// Tells jobs to stop; dropping it tells them too.
#[derive(Debug)]
pub struct StopSignal(watch::Sender<bool>);

/// What a job holds to learn that the server stops.
#[derive(Debug, Clone)]
pub struct Stop {
    receiver: watch::Receiver<bool>,
}

/// A signal and the handle jobs clone from it.
pub fn stop_pair() -> (StopSignal, Stop) {
    let (sender, receiver) = watch::channel(false);
    (StopSignal(sender), Stop { receiver })
}

impl StopSignal {
    /// Tells every job to stop after its current run.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl Stop {
    /// Completes once the server stops (at once if it has already).
    pub async fn stopped(&mut self) {
        // An error means the signal was dropped, which also means stop.
        let _closed = self.receiver.wait_for(|stop| *stop).await;
    }

    /// Sleeps `duration`; `false` if the server stopped meanwhile.
    pub async fn sleep(&mut self, duration: std::time::Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(duration) => true,
            () = self.stopped() => false,
        }
    }
}

/// Completes at the first SIGTERM or SIGINT (Ctrl-C), naming it.
pub async fn terminated() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot watch SIGTERM and SIGINT; stopping on Ctrl-C only");
            let _ctrl_c = tokio::signal::ctrl_c().await;
            return "SIGINT";
        };
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    }
    #[cfg(not(unix))]
    {
        let _ctrl_c = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
