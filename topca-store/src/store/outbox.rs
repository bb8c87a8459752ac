//! The mail outbox table: sealed mails queued, retried and deleted once sent.

use std::time::SystemTime;

use diesel::prelude::*;
use topca_core::{
    StoreError,
    store::{OutboxStore, QueuedMail},
};

use super::{DieselStore, Pools, TxError, backend, pool_error};
use crate::{
    rows::{id, nanos, time},
    schema::mail_outbox,
};

type MailRow = (i64, String, Vec<u8>, i32, i64);

fn queued((number, recipient, sealed, attempts, next): MailRow) -> Result<QueuedMail, StoreError> {
    Ok(QueuedMail {
        id: u64::try_from(number).map_err(|_| StoreError::NotFound)?,
        recipient,
        sealed,
        attempts: u32::try_from(attempts).unwrap_or(0),
        next_attempt: time(next)?,
    })
}

impl OutboxStore for DieselStore {
    fn queue_mail(
        &self,
        recipient: &str,
        sealed: &[u8],
        due: SystemTime,
    ) -> Result<u64, StoreError> {
        let due = nanos(due)?;
        let number: i64 = write!(self, |c| Ok(diesel::insert_into(mail_outbox::table)
            .values((
                mail_outbox::recipient.eq(recipient),
                mail_outbox::sealed.eq(sealed),
                mail_outbox::attempts.eq(0),
                mail_outbox::next_attempt.eq(due),
            ))
            .returning(mail_outbox::id)
            .get_result(c)?))?;
        u64::try_from(number).map_err(|_| StoreError::NotFound)
    }

    fn due_mails(&self, now: SystemTime, limit: usize) -> Result<Vec<QueuedMail>, StoreError> {
        let now = nanos(now)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<MailRow> = read!(self, |c| mail_outbox::table
            .filter(mail_outbox::next_attempt.le(now))
            .order(mail_outbox::id)
            .limit(limit)
            .select((
                mail_outbox::id,
                mail_outbox::recipient,
                mail_outbox::sealed,
                mail_outbox::attempts,
                mail_outbox::next_attempt,
            ))
            .load(c)
            .map_err(backend)?);
        rows.into_iter().map(queued).collect()
    }

    fn claim_due_mails(
        &self,
        now: SystemTime,
        until: SystemTime,
        limit: usize,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        let (now, until) = (nanos(now)?, nanos(until)?);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<MailRow> = write!(self, |c| {
            let due: Vec<MailRow> = mail_outbox::table
                .filter(mail_outbox::next_attempt.le(now))
                .order(mail_outbox::id)
                .limit(limit)
                .select((
                    mail_outbox::id,
                    mail_outbox::recipient,
                    mail_outbox::sealed,
                    mail_outbox::attempts,
                    mail_outbox::next_attempt,
                ))
                .load(c)?;
            let mut claimed = Vec::with_capacity(due.len());
            // In id order, each only while still due: a sender claiming the same
            // mail at once (PostgreSQL) waits for this one to commit, then finds
            // it not due and leaves it.
            for row in due {
                let taken = diesel::update(
                    mail_outbox::table
                        .find(row.0)
                        .filter(mail_outbox::next_attempt.le(now)),
                )
                .set(mail_outbox::next_attempt.eq(until))
                .execute(c)?;
                if taken == 1 {
                    claimed.push(row);
                }
            }
            Ok(claimed)
        })?;
        rows.into_iter().map(queued).collect()
    }

    fn mail_sent(&self, number: u64) -> Result<(), StoreError> {
        let key = id(number)?;
        write!(self, |c| {
            diesel::delete(mail_outbox::table.find(key)).execute(c)?;
            Ok(())
        })
    }

    fn mail_failed(&self, number: u64, next: SystemTime) -> Result<(), StoreError> {
        let key = id(number)?;
        let next = nanos(next)?;
        let changed = write!(self, |c| Ok(diesel::update(mail_outbox::table.find(key))
            .set((
                mail_outbox::attempts.eq(mail_outbox::attempts + 1),
                mail_outbox::next_attempt.eq(next),
            ))
            .execute(c)?))?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
