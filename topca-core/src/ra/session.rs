//! Administrator sessions, kept in the store so every node sees the same ones:
//! only the SHA-256 of a token is stored. Each use ([`resume`]) reads the
//! administrator's current roles and lockout from the store, so a role removed,
//! a lockout or a deleted administrator takes effect on the next request. A
//! session ends after [`IDLE`] without use or [`ABSOLUTE`] after log-in,
//! whichever comes first; at log-out ([`end`]); when its administrator's roles,
//! password or lockout change; or when a super administrator ends every session
//! ([`end_all`]).

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::{
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    clock::Clock,
    error::{Error, RaError},
    ra::{Administrator, SuperOps},
    random::RandomSource,
    store::{AdminSession, RaStore},
};

/// How long a session lives without use.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// How long a session lives at most, however often it is used.
pub const ABSOLUTE: Duration = Duration::from_secs(8 * 60 * 60);

/// The SHA-256 of a session token: what the store keeps.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Opens a session for `admin` (authenticated already) and returns its token, 256
/// random bits in hex, which only the client keeps. Expired sessions are
/// forgotten on the way.
pub fn open(
    store: &dyn RaStore,
    clock: &dyn Clock,
    random: &dyn RandomSource,
    admin: &Administrator,
) -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    random.fill(&mut bytes).map_err(|_| Error::Random)?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let now = clock.now();
    store.prune_sessions(
        now.checked_sub(IDLE).unwrap_or(now),
        now.checked_sub(ABSOLUTE).unwrap_or(now),
    )?;
    store.create_session(AdminSession {
        token_hash: token_hash(&token),
        admin: admin.name.clone(),
        opened: now,
        last_used: now,
    })?;
    Ok(token)
}

/// The administrator of the session `token`, with the roles they hold now;
/// [`RaError::NoSession`] when the session is unknown or expired (it is then
/// forgotten) or its administrator is gone or locked out.
pub fn resume(store: &dyn RaStore, clock: &dyn Clock, token: &str) -> Result<Administrator, Error> {
    let hash = token_hash(token);
    let now = clock.now();
    let session = store.session(&hash)?.ok_or(RaError::NoSession)?;
    let expired = now >= session.last_used + IDLE || now >= session.opened + ABSOLUTE;
    if expired {
        store.end_session(&hash)?;
        return Err(RaError::NoSession.into());
    }
    let Some(record) = store.admin(&session.admin)? else {
        store.end_sessions(Some(&session.admin))?;
        return Err(RaError::NoSession.into());
    };
    if record.locked_until.is_some_and(|until| now < until) {
        store.end_sessions(Some(&session.admin))?;
        return Err(RaError::NoSession.into());
    }
    store.touch_session(&hash, now)?;
    Ok(Administrator {
        name: record.name,
        roles: record.roles,
    })
}

/// Ends the session `token` (log-out). Ending a session that is gone is not an
/// error.
pub fn end(store: &dyn RaStore, token: &str) -> Result<(), Error> {
    Ok(store.end_session(&token_hash(token))?)
}

/// Ends every administrator's session, the acting super administrator's
/// included, audited; how many were ended.
pub fn end_all(store: &dyn RaStore, clock: &dyn Clock, ops: &SuperOps) -> Result<u64, Error> {
    let ended = store.end_sessions(None)?;
    store.append_audit(AuditRecord {
        at: clock.now(),
        actor: Actor::Admin(ops.admin().to_owned()),
        action: AuditAction::SessionsEnded,
        target: "every administrator session".into(),
        outcome: Outcome::Success,
        detail: format!("{ended} sessions ended"),
    })?;
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use std::{
        sync::Mutex,
        time::{Duration, SystemTime},
    };

    use super::*;
    use crate::{
        memory::MemoryStore,
        ra::{AdminRole, admin::create_admin},
        random::OsRandom,
        store::{AdminStore, AuditStore, SessionStore},
    };

    /// A clock the test moves.
    struct Moving(Mutex<SystemTime>);

    impl Clock for Moving {
        fn now(&self) -> SystemTime {
            *self.0.lock().unwrap()
        }
    }

    impl Moving {
        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
    }

    fn setup() -> (MemoryStore, Moving, Administrator) {
        let store = MemoryStore::new();
        let clock = Moving(Mutex::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        ));
        let record = create_admin(
            &store,
            "alice",
            "a long password",
            vec![AdminRole::RaAdmin, AdminRole::SuperAdmin],
            &OsRandom,
            &clock,
        )
        .unwrap();
        let admin = Administrator {
            name: record.name,
            roles: record.roles,
        };
        (store, clock, admin)
    }

    #[test]
    fn a_session_used_every_few_minutes_still_ends_after_eight_hours() {
        let (store, clock, admin) = setup();
        let token = open(&store, &clock, &OsRandom, &admin).unwrap();
        // Used every 20 minutes (within the idle timeout) for 7 h 40 min.
        for _ in 0..23 {
            clock.advance(Duration::from_secs(20 * 60));
            resume(&store, &clock, &token).expect("alive within eight hours");
        }
        clock.advance(Duration::from_secs(20 * 60));
        assert!(matches!(
            resume(&store, &clock, &token),
            Err(Error::Ra(RaError::NoSession))
        ));
    }

    #[test]
    fn an_idle_session_ends_after_thirty_minutes() {
        let (store, clock, admin) = setup();
        let token = open(&store, &clock, &OsRandom, &admin).unwrap();
        clock.advance(IDLE);
        assert!(resume(&store, &clock, &token).is_err());
        // Forgotten, not merely refused.
        assert!(store.session(&token_hash(&token)).unwrap().is_none());
    }

    #[test]
    fn the_store_keeps_only_the_hash_of_the_token() {
        let (store, clock, admin) = setup();
        let token = open(&store, &clock, &OsRandom, &admin).unwrap();
        let stored = store.session(&token_hash(&token)).unwrap().unwrap();
        assert_eq!(stored.admin, "alice");
        assert_ne!(stored.token_hash.to_vec(), token.as_bytes().to_vec());
    }

    #[test]
    fn a_session_carries_the_roles_held_now() {
        let (store, clock, admin) = setup();
        let token = open(&store, &clock, &OsRandom, &admin).unwrap();
        assert!(resume(&store, &clock, &token).unwrap().ra_ops().is_ok());
        let mut record = store.admin("alice").unwrap().unwrap();
        record.roles = vec![AdminRole::SuperAdmin];
        store.update_admin(&record).unwrap();
        assert!(resume(&store, &clock, &token).unwrap().ra_ops().is_err());
    }

    #[test]
    fn ending_every_session_is_audited() {
        let (store, clock, admin) = setup();
        let first = open(&store, &clock, &OsRandom, &admin).unwrap();
        let second = open(&store, &clock, &OsRandom, &admin).unwrap();
        let ops = admin.super_ops().unwrap();
        assert_eq!(end_all(&store, &clock, &ops).unwrap(), 2);
        assert!(resume(&store, &clock, &first).is_err());
        assert!(resume(&store, &clock, &second).is_err());
        let last = store.audit_entries().unwrap().pop().unwrap();
        assert_eq!(last.record.action, AuditAction::SessionsEnded);
        assert_eq!(last.record.actor, Actor::Admin("alice".into()));
    }
}
