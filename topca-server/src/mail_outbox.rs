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
/// Mails delivered per round.
const BATCH: usize = 100;
/// How long a round's mails are this node's alone: the others leave them until
/// then, and take them after it if this node stopped mid-round.
const CLAIM: Duration = Duration::from_secs(30 * 60);

/// How mail leaves: formatting a message, and delivering a formatted one.
pub trait Delivery: Send + Sync {
    /// The complete message for `envelope`.
    fn format(&self, envelope: &Envelope) -> Result<Vec<u8>, MailError>;
    /// Sends a message made by [`Delivery::format`] to `to`.
    fn deliver(&self, to: &str, message: &[u8]) -> Result<(), MailError>;
}

impl Delivery for LettreMailer {
    fn format(&self, envelope: &Envelope) -> Result<Vec<u8>, MailError> {
        LettreMailer::format(self, envelope)
    }

    fn deliver(&self, to: &str, message: &[u8]) -> Result<(), MailError> {
        LettreMailer::deliver(self, to, message)
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

    /// Queues `envelope`'s message, then tries to deliver it at once; a failed
    /// attempt leaves it queued for [`Self::deliver_due`].
    pub fn send(&self, envelope: &Envelope) -> Result<(), MailError> {
        let message = zeroize::Zeroizing::new(self.delivery.format(envelope)?);
        let sealed = self
            .master
            .seal_bytes(&message, BINDING, &OsRandom)
            .map_err(|e| MailError::Outbox(format!("the mail cannot be sealed: {e}")))?;
        let now = SystemTime::now();
        // Due only after the first backoff: the sender does not take it while
        // this attempt runs, but does if the process stops before it ends.
        let id = self
            .store
            .queue_mail(&envelope.to, &sealed, now + FIRST_BACKOFF)
            .map_err(|e| MailError::Outbox(format!("the mail cannot be queued: {e}")))?;
        self.attempt(id, &envelope.to, &message, 0, now);
        Ok(())
    }

    /// Delivers the queued mails due at `now`, claimed first so that of several
    /// nodes delivering at once only one sends each mail; how many were sent.
    pub fn deliver_due(&self, now: SystemTime) -> Result<usize, MailError> {
        let due = self
            .store
            .claim_due_mails(now, now + CLAIM, BATCH)
            .map_err(|e| MailError::Outbox(format!("the outbox cannot be read: {e}")))?;
        let mut sent = 0;
        for mail in due {
            let Ok(message) = self.master.open_bytes(&mail.sealed, BINDING) else {
                // Sealed under another master key: kept for an operator, not retried soon.
                let _ = self.store.mail_failed(mail.id, now + MAX_BACKOFF);
                continue;
            };
            if self.attempt(mail.id, &mail.recipient, &message, mail.attempts, now) {
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// One delivery attempt of queued mail `id`: removed when sent, postponed
    /// otherwise. Whether it was sent.
    fn attempt(&self, id: u64, to: &str, message: &[u8], attempts: u32, now: SystemTime) -> bool {
        match self.delivery.deliver(to, message) {
            Ok(()) => {
                let _ = self.store.mail_sent(id);
                true
            }
            Err(_) => {
                let _ = self.store.mail_failed(id, now + backoff(attempts));
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
/// seconds after, for as long as the server runs.
pub async fn send_queued(outbox: Arc<MailOutbox>) {
    loop {
        let round = Arc::clone(&outbox);
        let _ = tokio::task::spawn_blocking(move || round.deliver_due(SystemTime::now())).await;
        tokio::time::sleep(Duration::from_secs(15)).await;
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
