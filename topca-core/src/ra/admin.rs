//! Administrator accounts: Argon2id passwords, roles, and a lockout after
//! repeated failures. [`login`] turns a name and a password into an
//! [`Administrator`], from which the role capabilities ([`super::RaOps`],
//! [`super::KmcOps`], [`super::SuperOps`]) are taken. A super administrator may
//! bind a certificate from this CA to an administrator, who can then log in with
//! it as a TLS client certificate ([`login_with_certificate`]).

use std::{
    sync::OnceLock,
    time::{Duration, SystemTime},
};

use sha2::{Digest, Sha256};

use crate::{
    CertificateAuthority,
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    certificate::{Certificate, hex_lower},
    clock::Clock,
    error::{Error, RaError, StoreError},
    ra::{AdminRole, Administrator, SuperOps},
    random::{OsRandom, RandomSource},
    secret::PasswordHash,
    store::{CertificateStatus, LoginAttempt, RaStore},
};

/// Wrong passwords before an administrator is locked out.
pub const MAX_LOGIN_FAILURES: u8 = 5;
/// How long a lockout lasts.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);

/// An administrator as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminRecord {
    /// Login name (unique).
    pub name: String,
    /// Argon2id hash of the password.
    pub password: PasswordHash,
    /// Roles granted.
    pub roles: Vec<AdminRole>,
    /// Wrong passwords since the last success.
    pub failed_logins: u8,
    /// Locked out until then, after too many wrong passwords.
    pub locked_until: Option<SystemTime>,
    /// SHA-256 of the DER of the certificate this administrator may log in
    /// with (lower-case hex), if one is bound.
    pub certificate: Option<String>,
    /// When another administrator, through the console, created this one, gave
    /// it the kmc role or set its password: a key recovery agent waits out a quarantine after it, so a
    /// super administrator cannot make an agent and use it at once. `None` when
    /// only the operator on the machine (`topca-server admin add`) did.
    pub quarantine_from: Option<SystemTime>,
    /// Compare-and-set version.
    pub version: u64,
}

impl AdminRole {
    /// The number storage keeps.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The role stored as `code`, if it is one.
    pub fn from_code(code: u8) -> Option<Self> {
        [Self::SuperAdmin, Self::RaAdmin, Self::KmcAdmin]
            .into_iter()
            .find(|r| r.code() == code)
    }

    /// The role from its name on the command line (`super`, `ra`, `kmc`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim() {
            "super" => Some(Self::SuperAdmin),
            "ra" => Some(Self::RaAdmin),
            "kmc" => Some(Self::KmcAdmin),
            _ => None,
        }
    }
}

/// Creates an administrator from the command line (the first super administrator
/// comes from there, never from a default password).
pub fn create_admin(
    store: &dyn RaStore,
    name: &str,
    password: &str,
    roles: Vec<AdminRole>,
    random: &dyn RandomSource,
    clock: &dyn Clock,
) -> Result<AdminRecord, Error> {
    create(store, Actor::System, name, password, roles, random, clock)
}

/// Creates an administrator on a super administrator's decision.
pub fn add_admin(
    store: &dyn RaStore,
    ops: &SuperOps,
    name: &str,
    password: &str,
    roles: Vec<AdminRole>,
    random: &dyn RandomSource,
    clock: &dyn Clock,
) -> Result<AdminRecord, Error> {
    let actor = Actor::Admin(ops.admin().to_owned());
    create(store, actor, name, password, roles, random, clock)
}

fn create(
    store: &dyn RaStore,
    actor: Actor,
    name: &str,
    password: &str,
    roles: Vec<AdminRole>,
    random: &dyn RandomSource,
    clock: &dyn Clock,
) -> Result<AdminRecord, Error> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(RaError::InvalidField {
            field: "administrator name",
            problem: "must be 1 to 64 printable characters".into(),
        }
        .into());
    }
    if roles.is_empty() {
        return Err(RaError::InvalidField {
            field: "roles",
            problem: "give at least one role".into(),
        }
        .into());
    }
    let record = AdminRecord {
        name: name.to_owned(),
        password: PasswordHash::create(password, random)?,
        roles,
        failed_logins: 0,
        locked_until: None,
        certificate: None,
        quarantine_from: match actor {
            Actor::System => None,
            _ => Some(clock.now()),
        },
        version: 1,
    };
    store.create_admin(record.clone()).map_err(|e| match e {
        StoreError::Conflict => Error::Ra(RaError::InvalidField {
            field: "administrator name",
            problem: "is taken".into(),
        }),
        other => other.into(),
    })?;
    let roles: Vec<String> = record.roles.iter().map(|r| format!("{r:?}")).collect();
    store.append_audit(AuditRecord {
        at: clock.now(),
        actor,
        action: AuditAction::AdminCreated,
        target: format!("administrator {}", record.name),
        outcome: Outcome::Success,
        detail: roles.join(", "),
    })?;
    Ok(record)
}

/// Checks an administrator's password. The attempt is counted in the store
/// before the password is checked ([`crate::store::AdminStore::count_login_attempt`]),
/// so concurrent guesses each count; the [`MAX_LOGIN_FAILURES`]th failure in a
/// row locks the administrator out for [`LOCKOUT`] and ends their sessions.
/// Every attempt is audited. An unknown name, a wrong password and a lockout
/// get the same answer ([`RaError::WrongLogin`]) after the same work: a password
/// is hashed on every path (against a stand-in hash when there is no usable
/// one), so neither the answer nor its timing tells whether a name exists.
pub fn login(
    store: &dyn RaStore,
    clock: &dyn Clock,
    name: &str,
    password: &str,
) -> Result<Administrator, Error> {
    let now = clock.now();
    let name = name.trim();
    let audit = |outcome, detail: &str| {
        store.append_audit(AuditRecord {
            at: now,
            actor: Actor::Admin(name.to_owned()),
            action: AuditAction::AdminLogin,
            target: format!("administrator {name}"),
            outcome,
            detail: detail.to_owned(),
        })
    };
    let attempt = store.count_login_attempt(name, now, MAX_LOGIN_FAILURES, now + LOCKOUT)?;
    let Some(LoginAttempt { admin, counted }) = attempt else {
        stand_in_hash()?.verify(password);
        audit(Outcome::Failure, "unknown name")?;
        return Err(RaError::WrongLogin.into());
    };
    if !counted {
        stand_in_hash()?.verify(password);
        audit(Outcome::Failure, "locked out")?;
        return Err(RaError::WrongLogin.into());
    }
    if !admin.password.verify(password) {
        let locked = admin.locked_until.is_some();
        if locked {
            store.end_sessions(Some(name))?;
        }
        audit(
            Outcome::Failure,
            if locked {
                "wrong password, locked out"
            } else {
                "wrong password"
            },
        )?;
        return Err(RaError::WrongLogin.into());
    }
    clear_failures(store, admin.name.clone())?;
    audit(Outcome::Success, "")?;
    Ok(Administrator {
        name: admin.name,
        roles: admin.roles,
    })
}

/// Resets the failure count and lockout after a good password (retried while
/// concurrent attempts move the version).
fn clear_failures(store: &dyn RaStore, name: String) -> Result<(), Error> {
    for _ in 0..8 {
        let Some(mut record) = store.admin(&name)? else {
            return Err(RaError::WrongLogin.into());
        };
        if record.failed_logins == 0 && record.locked_until.is_none() {
            return Ok(());
        }
        record.failed_logins = 0;
        record.locked_until = None;
        match store.update_admin(&record) {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(StoreError::Conflict.into())
}

/// A hash of a random password with the same parameters as real ones, checked
/// when there is no usable hash so that every log-in attempt costs the same.
fn stand_in_hash() -> Result<&'static PasswordHash, Error> {
    static STAND_IN: OnceLock<PasswordHash> = OnceLock::new();
    if let Some(hash) = STAND_IN.get() {
        return Ok(hash);
    }
    let mut random = [0u8; 24];
    OsRandom.fill(&mut random).map_err(|_| Error::Random)?;
    let password: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let hash = PasswordHash::create(&password, &OsRandom)?;
    Ok(STAND_IN.get_or_init(|| hash))
}

/// Every administrator, by name (the super administrator's list).
pub fn list_admins(store: &dyn RaStore, _ops: &SuperOps) -> Result<Vec<AdminRecord>, Error> {
    Ok(store.admins()?)
}

/// What a super administrator changes about another administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminChange {
    /// Replace the roles.
    Roles(Vec<AdminRole>),
    /// Lift a lockout and clear the failure count.
    Unlock,
    /// Bind this certificate (issued by this CA) for certificate log-in.
    BindCertificate(Box<Certificate>),
    /// Remove the bound certificate.
    UnbindCertificate,
}

/// Applies `change` to the administrator `name`, audited under the acting super
/// administrator. A bound certificate must be one this CA issued. New roles end
/// the administrator's sessions.
pub fn change_admin(
    store: &dyn RaStore,
    ops: &SuperOps,
    ca: &CertificateAuthority,
    name: &str,
    change: AdminChange,
) -> Result<AdminRecord, Error> {
    let mut record = store.admin(name.trim())?.ok_or(RaError::UnknownAdmin)?;
    // New roles take effect at once: the administrator logs in again.
    let ends_sessions = matches!(change, AdminChange::Roles(_));
    let detail = match change {
        AdminChange::Roles(roles) => {
            if roles.is_empty() {
                return Err(RaError::InvalidField {
                    field: "roles",
                    problem: "give at least one role".into(),
                }
                .into());
            }
            if record.name == ops.admin() && !roles.contains(&AdminRole::SuperAdmin) {
                return Err(RaError::OwnSuperRole.into());
            }
            let names: Vec<String> = roles.iter().map(|r| format!("{r:?}")).collect();
            if roles.contains(&AdminRole::KmcAdmin) && !record.roles.contains(&AdminRole::KmcAdmin)
            {
                record.quarantine_from = Some(ca.environment().clock().now());
            }
            record.roles = roles;
            format!("roles: {}", names.join(", "))
        }
        AdminChange::Unlock => {
            record.failed_logins = 0;
            record.locked_until = None;
            "unlocked".to_owned()
        }
        AdminChange::BindCertificate(certificate) => {
            certificate
                .verify_signed_by(ca.key().public_key())
                .map_err(|_| RaError::CertificateLoginRefused("it was not issued by this CA"))?;
            let fingerprint = fingerprint(certificate.der());
            record.certificate = Some(fingerprint.clone());
            format!(
                "certificate {} bound ({fingerprint})",
                certificate.serial_hex()
            )
        }
        AdminChange::UnbindCertificate => {
            record.certificate = None;
            "certificate unbound".to_owned()
        }
    };
    let updated = store.update_admin(&record)?;
    if ends_sessions {
        store.end_sessions(Some(&updated.name))?;
    }
    store.append_audit(AuditRecord {
        at: ca.environment().clock().now(),
        actor: Actor::Admin(ops.admin().to_owned()),
        action: AuditAction::AdminUpdated,
        target: format!("administrator {}", updated.name),
        outcome: Outcome::Success,
        detail,
    })?;
    Ok(updated)
}

/// Sets a new password for the administrator `name` on a super administrator's
/// decision (a forgotten or compromised password), audited; the
/// administrator's sessions end and any lockout is lifted.
pub fn set_admin_password(
    store: &dyn RaStore,
    ops: &SuperOps,
    ca: &CertificateAuthority,
    name: &str,
    password: &str,
) -> Result<AdminRecord, Error> {
    let mut record = store.admin(name.trim())?.ok_or(RaError::UnknownAdmin)?;
    record.password = PasswordHash::create(password, ca.environment().random())?;
    record.failed_logins = 0;
    record.locked_until = None;
    // Whoever set the password can log in as this administrator: a key
    // recovery agent waits out the quarantine again, as after creation.
    record.quarantine_from = Some(ca.environment().clock().now());
    let updated = store.update_admin(&record)?;
    store.end_sessions(Some(&updated.name))?;
    store.append_audit(AuditRecord {
        at: ca.environment().clock().now(),
        actor: Actor::Admin(ops.admin().to_owned()),
        action: AuditAction::AdminUpdated,
        target: format!("administrator {}", updated.name),
        outcome: Outcome::Success,
        detail: "password set by another administrator, sessions ended, key recovery quarantine restarted".into(),
    })?;
    Ok(updated)
}

/// Deletes the administrator `name` (not oneself) and their sessions, audited.
pub fn delete_admin(
    store: &dyn RaStore,
    ops: &SuperOps,
    clock: &dyn Clock,
    name: &str,
) -> Result<(), Error> {
    let name = name.trim();
    if name == ops.admin() {
        return Err(RaError::OwnAccount.into());
    }
    store.delete_admin(name).map_err(|e| match e {
        StoreError::NotFound => Error::Ra(RaError::UnknownAdmin),
        other => other.into(),
    })?;
    store.append_audit(AuditRecord {
        at: clock.now(),
        actor: Actor::Admin(ops.admin().to_owned()),
        action: AuditAction::AdminUpdated,
        target: format!("administrator {name}"),
        outcome: Outcome::Success,
        detail: "deleted, sessions ended".into(),
    })?;
    Ok(())
}

/// The fingerprint by which a certificate is bound to an administrator: the
/// SHA-256 of its DER in lower-case hex, as stored in [`AdminRecord::certificate`].
pub fn fingerprint(der: &[u8]) -> String {
    hex_lower(&Sha256::digest(der))
}

/// Logs in with a TLS client certificate: it must be issued by this CA, inside its
/// validity, not revoked, and bound to an administrator who is not locked out.
/// (The TLS handshake has already proved possession of its private key.) Every
/// attempt is audited.
pub fn login_with_certificate(
    store: &dyn RaStore,
    ca: &CertificateAuthority,
    der: &[u8],
) -> Result<Administrator, Error> {
    let now = ca.environment().clock().now();
    let fingerprint = fingerprint(der);
    let refuse = |actor: Actor, why: &'static str| -> Result<Administrator, Error> {
        store.append_audit(AuditRecord {
            at: now,
            actor,
            action: AuditAction::AdminLogin,
            target: format!("certificate {fingerprint}"),
            outcome: Outcome::Failure,
            detail: why.to_owned(),
        })?;
        Err(RaError::CertificateLoginRefused(why).into())
    };
    let Ok(certificate) = Certificate::from_der(der) else {
        return refuse(Actor::System, "it is not a certificate");
    };
    if certificate.verify_signed_by(ca.key().public_key()).is_err() {
        return refuse(Actor::System, "it was not issued by this CA");
    }
    if now < certificate.not_before() || now >= certificate.not_after() {
        return refuse(Actor::System, "it is not valid now");
    }
    let revoked = store
        .certificate(&certificate.serial_hex())?
        .is_some_and(|c| c.status == CertificateStatus::Revoked);
    if revoked {
        return refuse(Actor::System, "it is revoked");
    }
    let Some(record) = store
        .admins()?
        .into_iter()
        .find(|a| a.certificate.as_deref() == Some(fingerprint.as_str()))
    else {
        return refuse(Actor::System, "it is not bound to an administrator");
    };
    let actor = Actor::Admin(record.name.clone());
    if record.locked_until.is_some_and(|until| now < until) {
        return refuse(actor, "the administrator is locked out");
    }
    store.append_audit(AuditRecord {
        at: now,
        actor,
        action: AuditAction::AdminLogin,
        target: format!("administrator {}", record.name),
        outcome: Outcome::Success,
        detail: format!("client certificate {}", certificate.serial_hex()),
    })?;
    Ok(Administrator {
        name: record.name,
        roles: record.roles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        clock::SystemClock, memory::MemoryStore, secret::VERIFICATIONS, store::AuditStore,
    };

    /// Password hashes checked on this thread while `f` runs.
    fn hashes_during<T>(f: impl FnOnce() -> T) -> (usize, T) {
        let before = VERIFICATIONS.with(std::cell::Cell::get);
        let out = f();
        (VERIFICATIONS.with(std::cell::Cell::get) - before, out)
    }

    #[test]
    fn unknown_names_wrong_passwords_and_lockouts_each_hash_once_and_answer_alike() {
        let store = MemoryStore::new();
        create_admin(
            &store,
            "clerk",
            "the right password",
            vec![AdminRole::RaAdmin],
            &OsRandom,
            &SystemClock,
        )
        .unwrap();
        let (unknown_hashes, unknown) =
            hashes_during(|| login(&store, &SystemClock, "nobody", "a guess"));
        let (wrong_hashes, wrong) =
            hashes_during(|| login(&store, &SystemClock, "clerk", "a guess"));
        for _ in 1..MAX_LOGIN_FAILURES {
            login(&store, &SystemClock, "clerk", "a guess").unwrap_err();
        }
        let (locked_hashes, locked) =
            hashes_during(|| login(&store, &SystemClock, "clerk", "the right password"));
        assert_eq!((unknown_hashes, wrong_hashes, locked_hashes), (1, 1, 1));
        for refused in [unknown, wrong, locked] {
            assert!(matches!(refused, Err(Error::Ra(RaError::WrongLogin))));
        }
        // The lockout itself is audited as such.
        let details: Vec<String> = store
            .audit_entries()
            .unwrap()
            .into_iter()
            .map(|e| e.record.detail)
            .collect();
        assert!(details.contains(&"unknown name".to_owned()), "{details:?}");
        assert!(details.contains(&"wrong password, locked out".to_owned()));
        assert_eq!(details.last().map(String::as_str), Some("locked out"));
    }
}
