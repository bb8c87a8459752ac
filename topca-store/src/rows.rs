//! Rows as stored, and their conversion to and from the core's types. Times are
//! nanoseconds since the Unix epoch, so every value reads back exactly as written.

use std::time::{Duration, SystemTime};

use diesel::prelude::*;
use topca_core::{
    KeyAlgorithm, StoreError,
    audit::{Actor, AuditAction, AuditEntry, AuditRecord, Outcome},
    kmc::{EscrowedKey, Recovery, RecoveryId, RecoveryState},
    lifecycle::{
        CertificateType, CertificateUsage, RequestKind, RequestState, RevocationReason,
        VerificationMode,
    },
    ra::{
        Account, AccountId, AccountSettings, AdminRole, Holder, Language, Request, RequestId,
        RequestRef, ServerPolicy, admin::AdminRecord,
    },
    secret::{CodeHash, PasswordHash},
    store::{AdminSession, CertificateRecord, CertificateStatus, CrlRecord, EscrowRecord},
};

use crate::schema::{
    account_policies, accounts, admin_sessions, admins, audit_entries, certificates, crls,
    escrowed_keys, recoveries, requests,
};

/// A stored value that does not decode: the database was edited by hand or damaged.
pub(crate) fn damaged(what: &str) -> StoreError {
    StoreError::Backend(format!("a stored {what} is damaged"))
}

pub(crate) fn nanos(t: SystemTime) -> Result<i64, StoreError> {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_nanos()).ok())
        .ok_or_else(|| StoreError::Backend("a time outside 1970–2262 cannot be stored".into()))
}

pub(crate) fn time(n: i64) -> Result<SystemTime, StoreError> {
    u64::try_from(n)
        .map(|n| SystemTime::UNIX_EPOCH + Duration::from_nanos(n))
        .map_err(|_| damaged("time"))
}

pub(crate) fn id(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::NotFound)
}

pub(crate) fn unsigned(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| damaged(what))
}

fn code<T>(n: i32, what: &str, decode: impl Fn(u8) -> Option<T>) -> Result<T, StoreError> {
    u8::try_from(n)
        .ok()
        .and_then(decode)
        .ok_or_else(|| damaged(what))
}

fn hash(bytes: Option<Vec<u8>>) -> Result<Option<CodeHash>, StoreError> {
    bytes
        .map(|b| {
            <[u8; 32]>::try_from(b.as_slice())
                .map(CodeHash::from_bytes)
                .map_err(|_| damaged("code hash"))
        })
        .transpose()
}

fn hash32(bytes: &[u8], what: &str) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| damaged(what))
}

/// The keyword-search text of an account: O and OU, lower-cased.
pub(crate) fn search_text(settings: &AccountSettings) -> String {
    format!("{}\n{}", settings.organization, settings.unit).to_lowercase()
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = accounts)]
pub(crate) struct AccountRow {
    pub id: i64,
    pub organization: String,
    pub unit: String,
    pub certificate_type: i32,
    pub verification: i32,
    pub algorithm: String,
    pub validity_days: i32,
    pub service_url: String,
    pub language: i32,
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = accounts)]
pub(crate) struct AccountValues<'a> {
    pub organization: &'a str,
    pub unit: &'a str,
    pub search_text: String,
    pub certificate_type: i32,
    pub verification: i32,
    pub algorithm: &'a str,
    pub validity_days: i32,
    pub service_url: &'a str,
    pub language: i32,
}

impl<'a> AccountValues<'a> {
    pub(crate) fn of(s: &'a AccountSettings) -> Result<Self, StoreError> {
        Ok(Self {
            organization: &s.organization,
            unit: &s.unit,
            search_text: search_text(s),
            certificate_type: s.certificate_type.code().into(),
            verification: s.verification.code().into(),
            algorithm: s.algorithm.name(),
            validity_days: i32::try_from(s.validity_days)
                .map_err(|_| StoreError::Backend("validity too long".into()))?,
            service_url: &s.service_url,
            language: s.language as i32,
        })
    }
}

impl AccountRow {
    pub(crate) fn into_account(self) -> Result<Account, StoreError> {
        Ok(Account {
            id: AccountId(unsigned(self.id, "account id")?),
            settings: AccountSettings {
                organization: self.organization,
                unit: self.unit,
                certificate_type: code(
                    self.certificate_type,
                    "account",
                    CertificateType::from_code,
                )?,
                verification: code(self.verification, "account", VerificationMode::from_code)?,
                algorithm: self
                    .algorithm
                    .parse::<KeyAlgorithm>()
                    .map_err(|_| damaged("account algorithm"))?,
                validity_days: u32::try_from(self.validity_days).map_err(|_| damaged("account"))?,
                service_url: self.service_url,
                language: match self.language {
                    2 => Language::English,
                    _ => Language::Chinese,
                },
            },
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = requests)]
pub(crate) struct RequestRow {
    pub id: i64,
    pub account_id: i64,
    pub kind: i32,
    pub state: i32,
    pub holder_name: String,
    pub holder_email: String,
    pub holder_phone: Option<String>,
    pub holder_state: Option<String>,
    pub holder_locality: Option<String>,
    pub password_hash: Option<String>,
    pub pin_hash: Option<Vec<u8>>,
    pub pin_expires: Option<i64>,
    pub submitted_at: i64,
    pub reject_reason: Option<String>,
    pub issued_serial: Option<String>,
    pub csr: Option<Vec<u8>>,
    pub previous_serial: Option<String>,
    pub version: i64,
    pub public_ref: String,
}

/// Every column of a request but its id: inserted, or set by an update.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = requests, treat_none_as_null = true)]
pub(crate) struct RequestValues<'a> {
    pub account_id: i64,
    pub kind: i32,
    pub state: i32,
    pub holder_name: &'a str,
    pub holder_email: &'a str,
    pub holder_phone: Option<&'a str>,
    pub holder_state: Option<&'a str>,
    pub holder_locality: Option<&'a str>,
    pub password_hash: Option<&'a str>,
    pub pin_hash: Option<Vec<u8>>,
    pub pin_expires: Option<i64>,
    pub submitted_at: i64,
    pub reject_reason: Option<&'a str>,
    pub issued_serial: Option<&'a str>,
    pub csr: Option<&'a [u8]>,
    pub previous_serial: Option<&'a str>,
    pub version: i64,
    pub public_ref: &'a str,
}

impl<'a> RequestValues<'a> {
    pub(crate) fn of(r: &'a Request, version: u64) -> Result<Self, StoreError> {
        Ok(Self {
            account_id: id(r.account.0)?,
            kind: r.kind.code().into(),
            state: r.state.code().into(),
            holder_name: &r.holder.name,
            holder_email: &r.holder.email,
            holder_phone: r.holder.phone.as_deref(),
            holder_state: r.holder.state.as_deref(),
            holder_locality: r.holder.locality.as_deref(),
            password_hash: r.password.as_ref().map(PasswordHash::as_phc),
            pin_hash: r.pin.map(|h| h.to_bytes().to_vec()),
            pin_expires: r.pin_expires.map(nanos).transpose()?,
            submitted_at: nanos(r.submitted_at)?,
            reject_reason: r.reject_reason.as_deref(),
            issued_serial: r.issued_serial.as_deref(),
            csr: r.csr.as_deref(),
            previous_serial: r.previous_serial.as_deref(),
            version: i64::try_from(version).map_err(|_| StoreError::Conflict)?,
            public_ref: &r.reference.0,
        })
    }
}

impl RequestRow {
    pub(crate) fn into_request(self) -> Result<Request, StoreError> {
        Ok(Request {
            id: RequestId(unsigned(self.id, "request id")?),
            reference: RequestRef(self.public_ref),
            account: AccountId(unsigned(self.account_id, "request")?),
            kind: code(self.kind, "request kind", RequestKind::from_code)?,
            state: code(self.state, "request state", RequestState::from_code)?,
            holder: Holder {
                name: self.holder_name,
                email: self.holder_email,
                phone: self.holder_phone,
                state: self.holder_state,
                locality: self.holder_locality,
            },
            password: self
                .password_hash
                .map(PasswordHash::from_phc)
                .transpose()
                .map_err(|_| damaged("password hash"))?,
            pin: hash(self.pin_hash)?,
            pin_expires: self.pin_expires.map(time).transpose()?,
            submitted_at: time(self.submitted_at)?,
            reject_reason: self.reject_reason,
            issued_serial: self.issued_serial,
            csr: self.csr,
            previous_serial: self.previous_serial,
            version: unsigned(self.version, "request version")?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = certificates)]
pub(crate) struct CertificateRow {
    pub serial: String,
    pub account_id: Option<i64>,
    pub request_id: Option<i64>,
    pub holder_name: String,
    pub email: String,
    pub email_lower: String,
    pub subject: String,
    pub issuer: String,
    pub usage: i32,
    pub not_before: i64,
    pub not_after: i64,
    pub status: i32,
    pub revoked_at: Option<i64>,
    pub revocation_reason: Option<i32>,
    pub der: Vec<u8>,
}

impl CertificateRow {
    pub(crate) fn of(c: CertificateRecord) -> Result<Self, StoreError> {
        Ok(Self {
            serial: c.serial.to_ascii_uppercase(),
            account_id: c.account.map(|a| id(a.0)).transpose()?,
            request_id: c.request.map(|r| id(r.0)).transpose()?,
            email_lower: c.email.to_lowercase(),
            holder_name: c.holder_name,
            email: c.email,
            subject: c.subject,
            issuer: c.issuer,
            usage: c.usage.code().into(),
            not_before: nanos(c.not_before)?,
            not_after: nanos(c.not_after)?,
            status: c.status as i32,
            revoked_at: c.revocation.map(|(at, _)| nanos(at)).transpose()?,
            revocation_reason: c.revocation.map(|(_, r)| r.code().into()),
            der: c.der,
        })
    }

    pub(crate) fn into_record(self) -> Result<CertificateRecord, StoreError> {
        let revocation = match (self.revoked_at, self.revocation_reason) {
            (Some(at), Some(reason)) => Some((
                time(at)?,
                code(reason, "revocation reason", RevocationReason::from_code)?,
            )),
            _ => None,
        };
        Ok(CertificateRecord {
            serial: self.serial,
            account: self
                .account_id
                .map(|a| unsigned(a, "certificate"))
                .transpose()?
                .map(AccountId),
            request: self
                .request_id
                .map(|r| unsigned(r, "certificate"))
                .transpose()?
                .map(RequestId),
            holder_name: self.holder_name,
            email: self.email,
            subject: self.subject,
            issuer: self.issuer,
            usage: code(self.usage, "certificate usage", CertificateUsage::from_code)?,
            not_before: time(self.not_before)?,
            not_after: time(self.not_after)?,
            status: match self.status {
                1 => CertificateStatus::Valid,
                2 => CertificateStatus::Revoked,
                _ => return Err(damaged("certificate status")),
            },
            revocation,
            der: self.der,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = crls)]
pub(crate) struct CrlRow {
    pub number: i64,
    pub delta_base: Option<i64>,
    pub this_update: i64,
    pub next_update: i64,
    pub der: Vec<u8>,
}

impl CrlRow {
    pub(crate) fn of(c: CrlRecord) -> Result<Self, StoreError> {
        Ok(Self {
            number: id(c.number)?,
            delta_base: c.delta_base.map(id).transpose()?,
            this_update: nanos(c.this_update)?,
            next_update: nanos(c.next_update)?,
            der: c.der,
        })
    }

    pub(crate) fn into_record(self) -> Result<CrlRecord, StoreError> {
        Ok(CrlRecord {
            number: unsigned(self.number, "CRL number")?,
            delta_base: self.delta_base.map(|b| unsigned(b, "CRL")).transpose()?,
            this_update: time(self.this_update)?,
            next_update: time(self.next_update)?,
            der: self.der,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = escrowed_keys)]
pub(crate) struct EscrowRow {
    pub encryption_serial: String,
    pub signing_serial: String,
    pub email: String,
    pub email_lower: String,
    pub master_key_id: Vec<u8>,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub escrowed_at: i64,
}

impl EscrowRow {
    pub(crate) fn of(e: EscrowRecord) -> Result<Self, StoreError> {
        Ok(Self {
            encryption_serial: e.encryption_serial.to_ascii_uppercase(),
            signing_serial: e.signing_serial,
            email_lower: e.email.to_lowercase(),
            email: e.email,
            master_key_id: e.key.master_key_id.to_vec(),
            nonce: e.key.nonce.to_vec(),
            ciphertext: e.key.ciphertext,
            escrowed_at: nanos(e.escrowed_at)?,
        })
    }

    pub(crate) fn into_record(self) -> Result<EscrowRecord, StoreError> {
        Ok(EscrowRecord {
            encryption_serial: self.encryption_serial,
            signing_serial: self.signing_serial,
            email: self.email,
            key: EscrowedKey {
                master_key_id: self
                    .master_key_id
                    .as_slice()
                    .try_into()
                    .map_err(|_| damaged("escrowed key"))?,
                nonce: self
                    .nonce
                    .as_slice()
                    .try_into()
                    .map_err(|_| damaged("escrowed key"))?,
                ciphertext: self.ciphertext,
            },
            escrowed_at: time(self.escrowed_at)?,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = recoveries)]
pub(crate) struct RecoveryRow {
    pub public_id: String,
    pub encryption_serial: String,
    pub email: String,
    pub holder_name: String,
    pub requested_by: String,
    pub requested_at: i64,
    pub reason: String,
    pub state: i32,
    pub decided_by: Option<String>,
    pub code_hash: Option<Vec<u8>>,
    pub code_expires: Option<i64>,
    pub failed_attempts: i32,
    pub version: i64,
}

/// Every column of a recovery but its internal row number.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = recoveries, treat_none_as_null = true)]
pub(crate) struct RecoveryValues<'a> {
    pub public_id: String,
    pub encryption_serial: &'a str,
    pub email: &'a str,
    pub holder_name: &'a str,
    pub requested_by: &'a str,
    pub requested_at: i64,
    pub reason: &'a str,
    pub state: i32,
    pub decided_by: Option<&'a str>,
    pub code_hash: Option<Vec<u8>>,
    pub code_expires: Option<i64>,
    pub failed_attempts: i32,
    pub version: i64,
}

impl<'a> RecoveryValues<'a> {
    pub(crate) fn of(r: &'a Recovery, version: u64) -> Result<Self, StoreError> {
        Ok(Self {
            public_id: r.id.to_hex(),
            encryption_serial: &r.encryption_serial,
            email: &r.email,
            holder_name: &r.holder_name,
            requested_by: &r.requested_by,
            requested_at: nanos(r.requested_at)?,
            reason: &r.reason,
            state: r.state.code().into(),
            decided_by: r.decided_by.as_deref(),
            code_hash: r.code.map(|h| h.to_bytes().to_vec()),
            code_expires: r.code_expires.map(nanos).transpose()?,
            failed_attempts: r.failed_attempts.into(),
            version: i64::try_from(version).map_err(|_| StoreError::Conflict)?,
        })
    }
}

impl RecoveryRow {
    pub(crate) fn into_recovery(self) -> Result<Recovery, StoreError> {
        Ok(Recovery {
            id: RecoveryId::parse(&self.public_id).ok_or_else(|| damaged("recovery id"))?,
            encryption_serial: self.encryption_serial,
            email: self.email,
            holder_name: self.holder_name,
            requested_by: self.requested_by,
            requested_at: time(self.requested_at)?,
            reason: self.reason,
            state: code(self.state, "recovery state", RecoveryState::from_code)?,
            decided_by: self.decided_by,
            code: hash(self.code_hash)?,
            code_expires: self.code_expires.map(time).transpose()?,
            failed_attempts: u8::try_from(self.failed_attempts).map_err(|_| damaged("recovery"))?,
            version: unsigned(self.version, "recovery version")?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_entries)]
pub(crate) struct AuditRow {
    pub sequence: i64,
    pub at: i64,
    pub actor_kind: i32,
    pub actor_name: String,
    pub action: i32,
    pub target: String,
    pub outcome: i32,
    pub detail: String,
    pub previous_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

impl AuditRow {
    pub(crate) fn of(e: &AuditEntry) -> Result<Self, StoreError> {
        let (kind, name) = e.record.actor.to_parts();
        Ok(Self {
            sequence: id(e.sequence)?,
            at: nanos(e.record.at)?,
            actor_kind: kind.into(),
            actor_name: name.to_owned(),
            action: e.record.action.code().into(),
            target: e.record.target.clone(),
            outcome: e.record.outcome.code().into(),
            detail: e.record.detail.clone(),
            previous_hash: e.previous_hash.to_vec(),
            hash: e.hash.to_vec(),
        })
    }

    pub(crate) fn into_entry(self) -> Result<AuditEntry, StoreError> {
        Ok(AuditEntry {
            sequence: unsigned(self.sequence, "audit entry")?,
            record: AuditRecord {
                at: time(self.at)?,
                actor: u8::try_from(self.actor_kind)
                    .ok()
                    .and_then(|k| Actor::from_parts(k, self.actor_name))
                    .ok_or_else(|| damaged("audit actor"))?,
                action: u16::try_from(self.action)
                    .ok()
                    .and_then(AuditAction::from_code)
                    .ok_or_else(|| damaged("audit action"))?,
                target: self.target,
                outcome: code(self.outcome, "audit outcome", Outcome::from_code)?,
                detail: self.detail,
            },
            previous_hash: hash32(&self.previous_hash, "audit hash")?,
            hash: hash32(&self.hash, "audit hash")?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = admins, treat_none_as_null = true)]
pub(crate) struct AdminRow {
    pub name: String,
    pub password_hash: String,
    pub roles: String,
    pub failed_logins: i32,
    pub locked_until: Option<i64>,
    pub version: i64,
    pub certificate_sha256: Option<String>,
    pub quarantine_from: Option<i64>,
}

impl AdminRow {
    pub(crate) fn of(a: &AdminRecord, version: u64) -> Result<Self, StoreError> {
        Ok(Self {
            name: a.name.clone(),
            password_hash: a.password.as_phc().to_owned(),
            roles: a
                .roles
                .iter()
                .map(|r| r.code().to_string())
                .collect::<Vec<_>>()
                .join(","),
            failed_logins: a.failed_logins.into(),
            locked_until: a.locked_until.map(nanos).transpose()?,
            version: i64::try_from(version).map_err(|_| StoreError::Conflict)?,
            certificate_sha256: a.certificate.clone(),
            quarantine_from: a.quarantine_from.map(nanos).transpose()?,
        })
    }

    pub(crate) fn into_record(self) -> Result<AdminRecord, StoreError> {
        Ok(AdminRecord {
            name: self.name,
            password: PasswordHash::from_phc(self.password_hash)
                .map_err(|_| damaged("administrator"))?,
            roles: self
                .roles
                .split(',')
                .filter(|r| !r.is_empty())
                .map(|r| {
                    r.parse::<u8>()
                        .ok()
                        .and_then(AdminRole::from_code)
                        .ok_or_else(|| damaged("administrator role"))
                })
                .collect::<Result<_, _>>()?,
            failed_logins: u8::try_from(self.failed_logins)
                .map_err(|_| damaged("administrator"))?,
            locked_until: self.locked_until.map(time).transpose()?,
            certificate: self.certificate_sha256,
            quarantine_from: self.quarantine_from.map(time).transpose()?,
            version: unsigned(self.version, "administrator version")?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = admin_sessions)]
pub(crate) struct SessionRow {
    pub token_hash: Vec<u8>,
    pub admin: String,
    pub opened: i64,
    pub last_used: i64,
}

impl SessionRow {
    pub(crate) fn of(s: &AdminSession) -> Result<Self, StoreError> {
        Ok(Self {
            token_hash: s.token_hash.to_vec(),
            admin: s.admin.clone(),
            opened: nanos(s.opened)?,
            last_used: nanos(s.last_used)?,
        })
    }

    pub(crate) fn into_session(self) -> Result<AdminSession, StoreError> {
        Ok(AdminSession {
            token_hash: hash32(&self.token_hash, "session")?,
            admin: self.admin,
            opened: time(self.opened)?,
            last_used: time(self.last_used)?,
        })
    }
}

/// An account's server certificate policy; domains one per line.
#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = account_policies)]
pub(crate) struct ServerPolicyRow {
    pub account_id: i64,
    pub allowed_domains: String,
    pub allow_wildcards: bool,
    pub allow_ip_addresses: bool,
    pub max_names: i32,
}

impl ServerPolicyRow {
    pub(crate) fn of(account: AccountId, policy: &ServerPolicy) -> Result<Self, StoreError> {
        Ok(Self {
            account_id: id(account.0)?,
            allowed_domains: policy.allowed_domains.join("\n"),
            allow_wildcards: policy.allow_wildcards,
            allow_ip_addresses: policy.allow_ip_addresses,
            max_names: i32::try_from(policy.max_names)
                .map_err(|_| StoreError::Backend("name limit too large".into()))?,
        })
    }

    pub(crate) fn into_policy(self) -> Result<ServerPolicy, StoreError> {
        Ok(ServerPolicy {
            allowed_domains: self
                .allowed_domains
                .lines()
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect(),
            allow_wildcards: self.allow_wildcards,
            allow_ip_addresses: self.allow_ip_addresses,
            max_names: u32::try_from(self.max_names).map_err(|_| damaged("account policy"))?,
        })
    }
}
