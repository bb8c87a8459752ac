//! Conformance of key escrow at issuance and of key recoveries.

use crate::{
    audit::AuditAction,
    error::StoreError,
    kmc::{EscrowedKey, NewRecovery, RecoveryId, RecoveryState},
    lifecycle::CertificateUsage,
    ra::AccountId,
    random::OsRandom,
    secret::CodeHash,
    store::{EscrowRecord, RaStore},
};

use super::{
    Checked, ConformanceFailure, at, ensure, issue, new_request, note, record, reserve, store_ok,
};

fn escrow(encryption_serial: &str, signing_serial: &str, email: &str) -> EscrowRecord {
    EscrowRecord {
        encryption_serial: encryption_serial.to_owned(),
        signing_serial: signing_serial.to_owned(),
        email: email.to_owned(),
        key: EscrowedKey {
            master_key_id: [7; 8],
            nonce: [9; 12],
            ciphertext: vec![0xA5; 150],
        },
        escrowed_at: at(1_800_000_000),
    }
}

pub(super) fn dual_issuance_escrows_atomically(store: &dyn RaStore, account: AccountId) -> Checked {
    let check = "a dual issuance stores both certificates and the escrowed key atomically";
    let email = "dual@example.com";
    let request = store_ok(check, store.submit_request(new_request(account, email)?))?;
    let signing = record("5101", account, request.id, email);
    let mut encryption = record("5102", account, request.id, email);
    encryption.usage = CertificateUsage::Encryption;

    // The second certificate's serial is taken: neither certificate, nor the key.
    reserve(check, store, &[&signing, &encryption])?;
    let taken = record("0A1B2C", account, request.id, email);
    let refused = store.commit_request(issue(
        &request,
        vec![signing.clone(), taken],
        Some(escrow("0A1B2C", "5101", email)),
    ));
    ensure(
        check,
        refused == Err(StoreError::DuplicateSerial("0A1B2C".into())),
        || format!("{refused:?}"),
    )?;
    ensure(
        check,
        store_ok(check, store.certificate("5101"))?.is_none()
            && store_ok(check, store.escrowed_keys_by_email(email))?.is_empty(),
        || "half-written dual issuance".into(),
    )?;

    let sealed = escrow("5102", "5101", email);
    store_ok(
        check,
        store.commit_request(issue(
            &request,
            vec![signing, encryption.clone()],
            Some(sealed.clone()),
        )),
    )?;
    let stored = store_ok(check, store.certificate("5102"))?;
    ensure(check, stored.as_ref() == Some(&encryption), || {
        format!("encryption certificate read back as {stored:?}")
    })?;
    let key = store_ok(check, store.escrowed_key("5102"))?;
    ensure(check, key.as_ref() == Some(&sealed), || {
        format!("escrowed key read back as {key:?}")
    })?;
    let by_email = store_ok(check, store.escrowed_keys_by_email("DUAL@example.com"))?;
    ensure(check, by_email == [sealed], || {
        format!("escrowed keys by e-mail: {by_email:?}")
    })
}

pub(super) fn new_recovery(
    check: &'static str,
    serial: &str,
) -> Result<NewRecovery, ConformanceFailure> {
    Ok(NewRecovery {
        id: RecoveryId::generate(&OsRandom).map_err(|e| ConformanceFailure {
            check,
            detail: e.to_string(),
        })?,
        encryption_serial: serial.into(),
        email: "dual@example.com".into(),
        holder_name: "张三".into(),
        requested_by: "kmc-甲".into(),
        requested_at: at(1_800_300_000),
        reason: "换了新电脑".into(),
    })
}

pub(super) fn recoveries_update_by_compare_and_set(store: &dyn RaStore) -> Checked {
    let check = "key recoveries are stored and updated by compare-and-set";
    let new = new_recovery(check, "5102")?;
    let audited = store_ok(check, store.audit_entries())?.len();
    let created = store_ok(
        check,
        store.create_recovery(new.clone(), note(AuditAction::RecoveryRequested, "created")),
    )?;
    ensure(
        check,
        created.state == RecoveryState::Requested && created.version == 1 && created.id == new.id,
        || format!("{created:?}"),
    )?;
    let taken = store.create_recovery(new, note(AuditAction::RecoveryRequested, "taken"));
    ensure(check, taken == Err(StoreError::Conflict), || {
        format!("a second recovery with the same identifier gave {taken:?}")
    })?;
    let unknown = store_ok(check, store.recovery(new_recovery(check, "5102")?.id))?;
    ensure(check, unknown.is_none(), || format!("found {unknown:?}"))?;
    let mut approved = created.clone();
    approved.state = RecoveryState::Approved;
    approved.decided_by = Some("kmc-乙".into());
    approved.code = Some(CodeHash::of("WXYZ-2345-6789"));
    approved.code_expires = Some(at(1_800_400_000));
    let updated = store_ok(
        check,
        store.update_recovery(
            &approved,
            vec![note(AuditAction::RecoveryApproved, "approved")],
        ),
    )?;
    let back = store_ok(check, store.recovery(created.id))?;
    ensure(
        check,
        updated.version == 2 && back.as_ref() == Some(&updated),
        || format!("read back as {back:?}"),
    )?;
    let mut stale = created.clone();
    stale.state = RecoveryState::Rejected;
    let refused = store.update_recovery(&stale, vec![note(AuditAction::RecoveryApproved, "stale")]);
    ensure(check, refused == Err(StoreError::Conflict), || {
        format!("stale update gave {refused:?}")
    })?;
    // The approval's entry went with it; the refused update wrote none.
    let audit = store_ok(check, store.audit_entries())?;
    ensure(
        check,
        audit.len() == audited + 2
            && audit
                .iter()
                .rev()
                .take(2)
                .map(|e| e.record.target.as_str())
                .eq(["approved", "created"]),
        || {
            format!(
                "{} audit entries after a creation and an update",
                audit.len() - audited
            )
        },
    )?;
    let listed = store_ok(check, store.recoveries_in_state(RecoveryState::Approved))?;
    ensure(check, listed == [updated], || format!("listed {listed:?}"))
}

pub(super) fn concurrent_recovery_attempts_all_count(store: &dyn RaStore) -> Checked {
    let check = "concurrent authorization-code attempts on a recovery each count";
    let created = store_ok(
        check,
        store.create_recovery(
            new_recovery(check, "5103")?,
            note(AuditAction::RecoveryRequested, "5103"),
        ),
    )?;
    let counted = std::thread::scope(|s| {
        let handles: Vec<_> = (0..50)
            .map(|_| s.spawn(|| store.count_recovery_attempt(created.id)))
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok())
            .filter_map(|r| r.ok().flatten())
            .map(|r| r.failed_attempts)
            .collect::<Vec<_>>()
    });
    let mut seen = counted.clone();
    seen.sort_unstable();
    ensure(check, seen == (1..=50).collect::<Vec<u8>>(), || {
        format!("the 50 attempts were counted as {counted:?}")
    })?;
    let stored = store_ok(check, store.recovery(created.id))?;
    ensure(
        check,
        stored
            .as_ref()
            .is_some_and(|r| r.failed_attempts == 50 && r.version == 51),
        || format!("stored {stored:?}"),
    )?;
    let unknown = store_ok(
        check,
        store.count_recovery_attempt(new_recovery(check, "5103")?.id),
    )?;
    ensure(check, unknown.is_none(), || format!("counted {unknown:?}"))
}
