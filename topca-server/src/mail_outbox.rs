//! The mail outbox: every mail the CA sends is first written to the database
//! (right after the change it tells of, before the request returns), sealed
//! under the KMC master key since it may carry a PIN or a code, then delivered.
//! A failed delivery stays queued and is retried with backoff (30 s doubling to
//! an hour) by [`send_queued`], which also picks up, at start, mails a stopped
//! server left. A sent mail is deleted from the table, its sealed text with it.
//! Several nodes on one database each run [`send_queued`]: a round first claims
//! its mails in the database, so each queued mail is sent by one node.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use topca_core::{
    MailError, OsRandom,
    kmc::MasterKey,
    mail::{Envelope, Mailer},
    store::OutboxStore,
};
use topca_mail::LettreMailer;
use topca_store::DieselStore;

/// What binds a sealed mail to the outbox (it opens nowhere else).
const BINDING: &str = "mail outbox";

/// First retry after this; each further failure doubles it, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(30);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Mails claimed per round (a call of [`MailOutbox::deliver_due`] runs rounds
/// until the due mails are gone).
const BATCH: usize = 20;
/// How long a round's mails are this node's alone: the others leave them until
/// then, and take them after it if this node stopped mid-round. An SMTP step
/// times out after 20 s, so a round of [`BATCH`] mails ends well within it.
const CLAIM: Duration = Duration::from_secs(30 * 60);
/// How long a mail just queued is left to the attempt made at once (no other
/// sender, on this node or another, takes it meanwhile).
const FIRST_ATTEMPT_CLAIM: Duration = Duration::from_secs(5 * 60);

/// How mail leaves: formatting a message, and delivering a formatted one.
pub trait Delivery: Send + Sync {
    /// The complete message for `envelope`.
    fn format(&self, envelope: &Envelope) -> Result<Vec<u8>, MailError>;
    /// Sends a message made by [`Delivery::format`] to `to`.
    fn deliver(&self, to: &str, message: &[u8]) -> Result<(), MailError>;
    /// Whether mail can leave now, sending nothing (for `/readyz`); a delivery
    /// with no way to tell answers `Ok`.
    fn check(&self) -> Result<(), MailError> {
        Ok(())
    }
}

impl Delivery for LettreMailer {
    fn format(&self, envelope: &Envelope) -> Result<Vec<u8>, MailError> {
        LettreMailer::format(self, envelope)
    }

    fn deliver(&self, to: &str, message: &[u8]) -> Result<(), MailError> {
        LettreMailer::deliver(self, to, message)
    }

    fn check(&self) -> Result<(), MailError> {
        LettreMailer::check(self)
    }
}

/// The queue and the delivery behind it.
pub struct MailOutbox {
    store: DieselStore,
    master: MasterKey,
    delivery: Box<dyn Delivery>,
}

impl MailOutbox {
    /// An outbox over `store` (its own connection to the CA's database), sealing
    /// with `master`, sending through `delivery`.
    pub fn new(store: DieselStore, master: MasterKey, delivery: Box<dyn Delivery>) -> Self {
        Self {
            store,
            master,
            delivery,
        }
    }

    /// Whether the transport takes mail now (see [`Delivery::check`]).
    pub fn check_transport(&self) -> Result<(), MailError> {
        self.delivery.check()
    }

    /// Queues `envelope`'s message, then tries to deliver it at once; a failed
    /// attempt leaves it queued for [`Self::deliver_due`].
    pub fn send(&self, envelope: &Envelope) -> Result<(), MailError> {
        let message = zeroize::Zeroizing::new(self.delivery.format(envelope)?);
        let sealed = self
            .master
            .seal_bytes(&message, BINDING, &OsRandom)
            .map_err(|e| MailError::Outbox(format!("the mail cannot be sealed: {e}")))?;
        let now = SystemTime::now();
        // Due only after the attempt's claim: no sender takes it while this
        // attempt runs, but one does if the process stops before it ends.
        let id = self
            .store
            .queue_mail(&envelope.to, &sealed, now + FIRST_ATTEMPT_CLAIM)
            .map_err(|e| MailError::Outbox(format!("the mail cannot be queued: {e}")))?;
        self.attempt(id, &envelope.to, &message, 0, now);
        Ok(())
    }

    /// Delivers the queued mails due at `now`, in rounds of [`BATCH`] claimed
    /// first so that of several nodes delivering at once only one sends each
    /// mail; how many were sent.
    pub fn deliver_due(&self, now: SystemTime) -> Result<usize, MailError> {
        let started = std::time::Instant::now();
        let mut sent = 0;
        loop {
            // Each round's claim runs from when the round starts.
            let (round, claimed) = self.deliver_round(now, now + started.elapsed() + CLAIM)?;
            sent += round;
            if claimed < BATCH {
                return Ok(sent);
            }
        }
    }

    /// One round: claims up to [`BATCH`] mails due at `now` until `claim_until`
    /// and delivers them; how many were sent and how many claimed.
    fn deliver_round(
        &self,
        now: SystemTime,
        claim_until: SystemTime,
    ) -> Result<(usize, usize), MailError> {
        let due = self
            .store
            .claim_due_mails(now, claim_until, BATCH)
            .map_err(|e| MailError::Outbox(format!("the outbox cannot be read: {e}")))?;
        let claimed = due.len();
        let mut sent = 0;
        for mail in due {
            let Ok(message) = self.master.open_bytes(&mail.sealed, BINDING) else {
                // Sealed under another master key: kept for an operator, not retried soon.
                tracing::error!(
                    mail = mail.id,
                    "a queued mail cannot be opened with this node's master key"
                );
                if let Err(e) = self.store.mail_failed(mail.id, now + MAX_BACKOFF) {
                    tracing::error!(mail = mail.id, error = %e, "cannot postpone a queued mail");
                }
                continue;
            };
            if self.attempt(mail.id, &mail.recipient, &message, mail.attempts, now) {
                sent += 1;
            }
        }
        Ok((sent, claimed))
    }

    /// One delivery attempt of queued mail `id`: removed when sent, postponed
    /// otherwise. Whether it was sent.
    fn attempt(&self, id: u64, to: &str, message: &[u8], attempts: u32, now: SystemTime) -> bool {
        match self.delivery.deliver(to, message) {
            Ok(()) => {
                if let Err(e) = self.store.mail_sent(id) {
                    // Sent but still queued: it may go out once more.
                    tracing::error!(mail = id, error = %e, "cannot mark a sent mail as sent");
                }
                true
            }
            Err(e) => {
                tracing::warn!(mail = id, attempts, error = %e, "a mail could not be delivered; retried later");
                if let Err(e) = self.store.mail_failed(id, now + backoff(attempts)) {
                    tracing::error!(mail = id, error = %e, "cannot postpone a queued mail");
                }
                false
            }
        }
    }
}

/// The wait after `attempts` earlier failures and one more.
fn backoff(attempts: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1u32.checked_shl(attempts.min(16)).unwrap_or(u32::MAX))
        .min(MAX_BACKOFF)
}

/// The [`Mailer`] the CA's workflows use: everything goes through the outbox.
pub struct OutboxMailer(pub Arc<MailOutbox>);

impl Mailer for OutboxMailer {
    fn send(&self, envelope: &Envelope) -> Result<(), MailError> {
        self.0.send(envelope)
    }
}

/// Delivers queued mails now (mails a stopped server left) and every 15
/// seconds after, until `stop` fires (the round under way finishes first).
pub async fn send_queued(outbox: Arc<MailOutbox>, mut stop: crate::lifecycle::Stop) {
    loop {
        let round = Arc::clone(&outbox);
        match tokio::task::spawn_blocking(move || round.deliver_due(SystemTime::now())).await {
            Ok(Ok(0)) => {}
            Ok(Ok(sent)) => tracing::info!(sent, "queued mails delivered"),
            Ok(Err(e)) => tracing::warn!(error = %e, "mail delivery failed; retried later"),
            Err(e) => tracing::error!(error = %e, "the mail delivery task failed"),
        }
        if !stop.sleep(Duration::from_secs(15)).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_thirty_seconds_up_to_an_hour() {
        assert_eq!(backoff(0), Duration::from_secs(30));
        assert_eq!(backoff(1), Duration::from_secs(60));
        assert_eq!(backoff(3), Duration::from_secs(240));
        assert_eq!(backoff(7), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
