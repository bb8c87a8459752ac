//! Conformance of record before sign: reservations, and certificates stored only
//! under their reservation, with their audit entries.

use crate::{
    audit::AuditAction,
    error::StoreError,
    lifecycle::{CertificateUsage, RequestState},
    ra::AccountId,
    store::{CertificateRecord, RaStore},
};

use super::{
    Checked, at, ensure, issue, new_request, note, record, reservation, reserve, store_ok,
};

/// Concurrent reservations of one serial in the race check.
const RACERS: usize = 50;

pub(super) fn reservations_are_taken_once(store: &dyn RaStore) -> Checked {
    let check = "a serial is reserved once, and open reservations are listed";
    let der = [0x30, 0x03, 0x02, 0x01, 0x01];
    ensure(
        check,
        store_ok(check, store.unfinished_issuances(10))?.is_empty(),
        || "open reservations in an empty store".into(),
    )?;
    let mut later = reservation("9A02", &der)?;
    later.reserved_at = at(1_800_000_100);
    later.issued = true;
    store_ok(check, store.reserve_issuance(&later))?;
    let first = reservation("9a01", &der)?;
    store_ok(check, store.reserve_issuance(&first))?;
    let again = store.reserve_issuance(&reservation("9A01", &der)?);
    ensure(check, again == Err(StoreError::Conflict), || {
        format!("a second reservation of a serial gave {again:?}")
    })?;
    let back = store_ok(check, store.reservation("9a01"))?;
    let mut expected = first.clone();
    expected.serial = "9A01".into();
    ensure(check, back.as_ref() == Some(&expected), || {
        format!("read back as {back:?}")
    })?;
    let open = store_ok(check, store.unfinished_issuances(10))?;
    let serials: Vec<&str> = open.iter().map(|r| r.serial.as_str()).collect();
    ensure(
        check,
        serials == ["9A01", "9A02"] && open.iter().all(|r| !r.issued),
        || format!("open reservations listed as {open:?}"),
    )?;
    let one = store_ok(check, store.unfinished_issuances(1))?;
    ensure(check, one.len() == 1, || format!("limit 1 gave {one:?}"))
}

pub(super) fn concurrent_reservations_of_one_serial_elect_one(store: &dyn RaStore) -> Checked {
    let check = "of concurrent reservations of one serial exactly one wins";
    let wanted = reservation("9B01", &[0x30, 0x03, 0x02, 0x01, 0x01])?;
    let results: Vec<Result<(), StoreError>> = std::thread::scope(|s| {
        let racers: Vec<_> = (0..RACERS)
            .map(|_| s.spawn(|| store.reserve_issuance(&wanted)))
            .collect();
        racers
            .into_iter()
            .map(|r| {
                r.join()
                    .unwrap_or(Err(StoreError::Backend("racer panicked".into())))
            })
            .collect()
    });
    let won = results.iter().filter(|r| r.is_ok()).count();
    let lost = results
        .iter()
        .filter(|r| **r == Err(StoreError::Conflict))
        .count();
    ensure(check, won == 1 && lost == RACERS - 1, || {
        format!("{won} won, {lost} refused: {results:?}")
    })
}

pub(super) fn only_reserved_certificates_are_stored(
    store: &dyn RaStore,
    account: AccountId,
) -> Checked {
    let check = "a certificate is stored only under its open reservation, with its audit entries";
    let email = "reserved@example.com";
    let request = store_ok(check, store.submit_request(new_request(account, email)?))?;
    let audited = store_ok(check, store.audit_entries())?.len();
    let unreserved = record("9C01", account, request.id, email);
    let refused = store.commit_request(issue(&request, vec![unreserved], None));
    ensure(
        check,
        refused == Err(StoreError::NotReserved("9C01".into())),
        || format!("an unreserved certificate gave {refused:?}"),
    )?;
    // Reserved for another TBSCertificate than the one signed.
    let mut other_tbs = record("9C02", account, request.id, email);
    store_ok(
        check,
        store.reserve_issuance(&reservation("9C02", &other_tbs.der)?),
    )?;
    other_tbs.der = vec![0x30, 0x03, 0x02, 0x01, 0x02];
    let refused = store.commit_request(issue(&request, vec![other_tbs], None));
    ensure(
        check,
        refused == Err(StoreError::TbsMismatch("9C02".into())),
        || format!("a certificate over another TBS gave {refused:?}"),
    )?;
    ensure(
        check,
        store_ok(check, store.certificate("9C01"))?.is_none()
            && store_ok(check, store.certificate("9C02"))?.is_none()
            && store_ok(check, store.request(request.id))?.is_some_and(|r| r == request)
            && store_ok(check, store.audit_entries())?.len() == audited,
        || "a refused issuance wrote something".into(),
    )?;
    let signed = record("9C03", account, request.id, email);
    reserve(check, store, &[&signed])?;
    let done = store_ok(
        check,
        store.commit_request(issue(&request, vec![signed], None)),
    )?;
    let reservation_now = store_ok(check, store.reservation("9C03"))?;
    let audit = store_ok(check, store.audit_entries())?;
    ensure(
        check,
        done.state == RequestState::Issued
            && reservation_now.is_some_and(|r| r.issued)
            && audit.len() == audited + 1
            && audit.last().is_some_and(|e| {
                e.record.action == AuditAction::CertificateIssued && e.record.target == "9C03"
            }),
        || {
            format!(
                "after issuance: {done:?}, {} new audit entries",
                audit.len() - audited
            )
        },
    )?;
    let open = store_ok(check, store.unfinished_issuances(100))?;
    ensure(
        check,
        open.iter().any(|r| r.serial == "9C02") && !open.iter().any(|r| r.serial == "9C03"),
        || format!("open reservations after issuance: {open:?}"),
    )?;
    let reused = store.reserve_issuance(&reservation("9C03", &[0x30, 0x03, 0x02, 0x01, 0x03])?);
    ensure(check, reused == Err(StoreError::Conflict), || {
        format!("reserving an issued serial gave {reused:?}")
    })
}

pub(super) fn unattached_certificates_are_stored_with_their_audit_entry(
    store: &dyn RaStore,
) -> Checked {
    let check =
        "a certificate tied to no request is stored under its reservation with its audit entry";
    let responder = CertificateRecord {
        account: None,
        request: None,
        holder_name: "TopCA OCSP Responder".into(),
        email: String::new(),
        usage: CertificateUsage::OcspResponder,
        ..record("9D01", AccountId(1), crate::ra::RequestId(1), "")
    };
    let audited = store_ok(check, store.audit_entries())?.len();
    let refused = store.store_certificate(
        responder.clone(),
        note(AuditAction::CertificateIssued, "9D01"),
    );
    ensure(
        check,
        refused == Err(StoreError::NotReserved("9D01".into()))
            && store_ok(check, store.audit_entries())?.len() == audited,
        || format!("an unreserved certificate gave {refused:?}"),
    )?;
    reserve(check, store, &[&responder])?;
    store_ok(
        check,
        store.store_certificate(
            responder.clone(),
            note(AuditAction::CertificateIssued, "9D01"),
        ),
    )?;
    let back = store_ok(check, store.certificate("9d01"))?;
    let audit = store_ok(check, store.audit_entries())?;
    ensure(
        check,
        back.as_ref() == Some(&responder)
            && store_ok(check, store.reservation("9D01"))?.is_some_and(|r| r.issued)
            && audit.len() == audited + 1,
        || {
            format!(
                "stored as {back:?}, {} new audit entries",
                audit.len() - audited
            )
        },
    )?;
    let twice = store.store_certificate(responder, note(AuditAction::CertificateIssued, "9D01"));
    ensure(
        check,
        twice == Err(StoreError::DuplicateSerial("9D01".into()))
            && store_ok(check, store.audit_entries())?.len() == audited + 1,
        || format!("storing it twice gave {twice:?}"),
    )
}
