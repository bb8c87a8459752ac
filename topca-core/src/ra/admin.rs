//! Administrator accounts: Argon2id passwords, roles, and a lockout after
//! repeated failures. [`login`] turns a name and a password into an
//! [`Administrator`], from which the role capabilities ([`super::RaOps`],
//! [`super::KmcOps`]) are taken.

use std::time::{Duration, SystemTime};

use crate::{
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    clock::Clock,
    error::{Error, RaError, StoreError},
    ra::{AdminRole, Administrator},
    random::RandomSource,
    secret::PasswordHash,
    store::RaStore,
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

/// Creates an administrator (the first super administrator comes from the CLI,
/// never from a default password).
pub fn create_admin(
    store: &dyn RaStore,
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
        actor: Actor::System,
        action: AuditAction::AdminCreated,
        target: format!("administrator {}", record.name),
        outcome: Outcome::Success,
        detail: roles.join(", "),
    })?;
    Ok(record)
}

/// Checks an administrator's password; counts failures and locks out after
/// [`MAX_LOGIN_FAILURES`] for [`LOCKOUT`]. Every attempt is audited.
pub fn login(
    store: &dyn RaStore,
    clock: &dyn Clock,
    name: &str,
    password: &str,
) -> Result<Administrator, Error> {
    let now = clock.now();
    let audit = |outcome, detail: &str| {
        store.append_audit(AuditRecord {
            at: now,
            actor: Actor::Admin(name.trim().to_owned()),
            action: AuditAction::AdminLogin,
            target: format!("administrator {}", name.trim()),
            outcome,
            detail: detail.to_owned(),
        })
    };
    let Some(mut record) = store.admin(name.trim())? else {
        // Same answer as a wrong password: names are not disclosed.
        audit(Outcome::Failure, "unknown name")?;
        return Err(RaError::WrongLogin.into());
    };
    if record.locked_until.is_some_and(|until| now < until) {
        audit(Outcome::Failure, "locked out")?;
        return Err(RaError::LoginLocked.into());
    }
    if !record.password.verify(password) {
        record.failed_logins = record.failed_logins.saturating_add(1);
        let locked = record.failed_logins >= MAX_LOGIN_FAILURES;
        if locked {
            record.locked_until = Some(now + LOCKOUT);
            record.failed_logins = 0;
        }
        store.update_admin(&record)?;
        audit(
            Outcome::Failure,
            if locked {
                "wrong password, locked out"
            } else {
                "wrong password"
            },
        )?;
        return Err(if locked {
            RaError::LoginLocked
        } else {
            RaError::WrongLogin
        }
        .into());
    }
    if record.failed_logins > 0 || record.locked_until.is_some() {
        record.failed_logins = 0;
        record.locked_until = None;
        store.update_admin(&record)?;
    }
    audit(Outcome::Success, "")?;
    Ok(Administrator {
        name: record.name,
        roles: record.roles,
    })
}
