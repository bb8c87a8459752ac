//! Conformance of issuance, revocation, expiry look-ups and CRL history.

use crate::{
    error::StoreError,
    lifecycle::{CertificateUsage, RequestState, RevocationReason},
    ra::AccountId,
    store::{CertificateStatus, CrlRecord, RaStore, Revocation},
};

use super::{Checked, at, ensure, issue, new_request, record, store_ok};

pub(super) fn issuance_is_atomic(store: &dyn RaStore, account: AccountId) -> Checked {
    let check = "issuance stores the certificate and closes the request atomically";
    let request = store_ok(
        check,
        store.submit_request(new_request(account, "Issue@Example.com")?),
    )?;
    let mut certificate = record("0A1B2C", account, request.id, "Issue@Example.com");
    certificate.usage = CertificateUsage::Server;
    let done = store_ok(
        check,
        store.commit_request(issue(&request, vec![certificate.clone()], None)),
    )?;
    ensure(
        check,
        done.state == RequestState::Issued && done.version == request.version + 1,
        || format!("{done:?}"),
    )?;
    let by_serial = store_ok(check, store.certificate("0a1b2c"))?;
    ensure(check, by_serial.as_ref() == Some(&certificate), || {
        format!("read back by serial as {by_serial:?}")
    })?;
    let by_email = store_ok(check, store.certificates_by_email("issue@example.com"))?;
    ensure(check, by_email.len() == 1, || {
        format!("found {} by e-mail", by_email.len())
    })?;
    let by_name = store_ok(check, store.certificates_by_holder_name("张三"))?;
    ensure(check, !by_name.is_empty(), || "not found by name".into())?;

    // A stale request copy: nothing is written, not even the certificate.
    let stale = store.commit_request(issue(
        &request,
        vec![record("0D0E0F", account, request.id, "Issue@Example.com")],
        None,
    ));
    ensure(check, stale == Err(StoreError::Conflict), || {
        format!("stale issuance gave {stale:?}")
    })?;
    ensure(
        check,
        store_ok(check, store.certificate("0D0E0F"))?.is_none(),
        || "half-written certificate".into(),
    )?;

    // A duplicate serial: refused, and the request is left as it was.
    let other = store_ok(
        check,
        store.submit_request(new_request(account, "dup@example.com")?),
    )?;
    let duplicate = store.commit_request(issue(
        &other,
        vec![record("0A1B2C", account, other.id, "dup@example.com")],
        None,
    ));
    ensure(
        check,
        duplicate == Err(StoreError::DuplicateSerial("0A1B2C".into())),
        || format!("{duplicate:?}"),
    )?;
    let unchanged = store_ok(check, store.request(other.id))?;
    ensure(check, unchanged.as_ref() == Some(&other), || {
        format!("request changed: {unchanged:?}")
    })
}

pub(super) fn revocation_happens_once(store: &dyn RaStore, account: AccountId) -> Checked {
    let check = "a certificate is revoked once";
    let request = store_ok(
        check,
        store.submit_request(new_request(account, "revoke@example.com")?),
    )?;
    store_ok(
        check,
        store.commit_request(issue(
            &request,
            vec![record("7F01", account, request.id, "revoke@example.com")],
            None,
        )),
    )?;
    let revocation = |serial: &str, reason| Revocation {
        serial: serial.to_owned(),
        at: at(1_800_100_000),
        reason,
    };
    let revoked = store_ok(
        check,
        store.revoke_certificate(&revocation("7f01", RevocationReason::KeyCompromise)),
    )?;
    ensure(
        check,
        revoked.status == CertificateStatus::Revoked
            && revoked.revocation == Some((at(1_800_100_000), RevocationReason::KeyCompromise)),
        || format!("{revoked:?}"),
    )?;
    let again = store.revoke_certificate(&revocation("7F01", RevocationReason::Superseded));
    ensure(
        check,
        again == Err(StoreError::AlreadyRevoked("7F01".into())),
        || format!("second revocation gave {again:?}"),
    )?;
    let unknown = store.revoke_certificate(&revocation("FFFF", RevocationReason::Superseded));
    ensure(check, unknown == Err(StoreError::NotFound), || {
        format!("unknown serial gave {unknown:?}")
    })?;
    let stored = store_ok(check, store.certificate("7F01"))?;
    ensure(
        check,
        stored
            .is_some_and(|c| c.revocation.map(|(_, r)| r) == Some(RevocationReason::KeyCompromise)),
        || "reason overwritten".into(),
    )?;
    let mut seen = Vec::new();
    store_ok(
        check,
        store.for_each_revoked(None, &mut |r| {
            seen.push(r.clone());
            Ok(())
        }),
    )?;
    ensure(
        check,
        seen == [revocation("7F01", RevocationReason::KeyCompromise)],
        || format!("revoked certificates listed as {seen:?}"),
    )?;
    let mut later = 0;
    store_ok(
        check,
        store.for_each_revoked(Some(at(1_800_100_001)), &mut |_| {
            later += 1;
            Ok(())
        }),
    )?;
    ensure(check, later == 0, || {
        format!("{later} revoked after the revocation time")
    })?;
    let (at_time, after) = (
        store_ok(check, store.revoked_since(at(1_800_100_000)))?,
        store_ok(check, store.revoked_since(at(1_800_100_001)))?,
    );
    ensure(check, at_time && !after, || {
        format!("revoked since the revocation time: {at_time}, a second later: {after}")
    })
}

pub(super) fn replacement_revokes_atomically(store: &dyn RaStore, account: AccountId) -> Checked {
    let check = "a request change that revokes does both or neither";
    let email = "replace@example.com";
    let original = store_ok(check, store.submit_request(new_request(account, email)?))?;
    store_ok(
        check,
        store.commit_request(issue(
            &original,
            vec![record("6A01", account, original.id, email)],
            None,
        )),
    )?;
    let replacement = store_ok(check, store.submit_request(new_request(account, email)?))?;
    let revoke = Revocation {
        serial: "6A01".into(),
        at: at(1_800_200_000),
        reason: RevocationReason::Superseded,
    };
    // A stale request: the original stays valid.
    let mut stale = issue(
        &replacement,
        vec![record("6A02", account, replacement.id, email)],
        None,
    );
    stale.request.version += 7;
    stale.revoke = Some(revoke.clone());
    let refused = store.commit_request(stale);
    ensure(check, refused == Err(StoreError::Conflict), || {
        format!("{refused:?}")
    })?;
    let original_now = store_ok(check, store.certificate("6A01"))?;
    ensure(
        check,
        original_now.is_some_and(|c| c.status == CertificateStatus::Valid),
        || "revoked although the change was refused".into(),
    )?;
    let mut change = issue(
        &replacement,
        vec![record("6A02", account, replacement.id, email)],
        None,
    );
    change.revoke = Some(revoke.clone());
    store_ok(check, store.commit_request(change))?;
    let original_now = store_ok(check, store.certificate("6A01"))?;
    ensure(
        check,
        original_now.is_some_and(|c| c.status == CertificateStatus::Revoked),
        || "original not revoked".into(),
    )?;
    // Revoking it again within a change refuses the whole change.
    let third = store_ok(check, store.submit_request(new_request(account, email)?))?;
    let mut again = issue(&third, vec![record("6A03", account, third.id, email)], None);
    again.revoke = Some(revoke);
    let refused = store.commit_request(again);
    ensure(
        check,
        refused == Err(StoreError::AlreadyRevoked("6A01".into()))
            && store_ok(check, store.certificate("6A03"))?.is_none(),
        || format!("second revoking change gave {refused:?}"),
    )
}

pub(super) fn expiry_window(store: &dyn RaStore) -> Checked {
    let check = "certificates ending in a window are found, soonest first, valid only";
    let all = store_ok(
        check,
        store.certificates_ending_between(at(0), at(u32::MAX.into())),
    )?;
    ensure(
        check,
        all.iter().all(|c| c.status == CertificateStatus::Valid) && !all.is_empty(),
        || format!("{} found, some revoked", all.len()),
    )?;
    ensure(
        check,
        all.windows(2).all(|w| w[0].not_after <= w[1].not_after),
        || "not soonest first".into(),
    )?;
    let end = at(1_800_000_000 + 365 * 86_400);
    let none = store_ok(check, store.certificates_ending_between(at(0), end))?;
    ensure(check, none.is_empty(), || {
        format!("{} end before {end:?}, exclusive bound ignored", none.len())
    })
}

pub(super) fn crls_keep_their_history(store: &dyn RaStore) -> Checked {
    let check = "CRLs are kept with increasing numbers, full and delta apart";
    let crl = |number, delta_base| CrlRecord {
        number,
        delta_base,
        this_update: at(1_800_000_000 + number),
        next_update: at(1_800_086_400 + number),
        der: vec![0x30, 0x01, u8::try_from(number).unwrap_or(0)],
    };
    ensure(
        check,
        store_ok(check, store.latest_crl(false))?.is_none()
            && store_ok(check, store.latest_crl_info(false))?.is_none(),
        || "a CRL in an empty store".into(),
    )?;
    store_ok(check, store.put_crl(crl(1, None)))?;
    store_ok(check, store.put_crl(crl(2, Some(1))))?;
    store_ok(check, store.put_crl(crl(3, None)))?;
    let stale = store.put_crl(crl(3, None));
    ensure(check, stale == Err(StoreError::Conflict), || {
        format!("a repeated CRL number gave {stale:?}")
    })?;
    let full = store_ok(check, store.latest_crl(false))?;
    let delta = store_ok(check, store.latest_crl(true))?;
    ensure(
        check,
        full == Some(crl(3, None)) && delta == Some(crl(2, Some(1))),
        || format!("latest full {full:?}, delta {delta:?}"),
    )?;
    let infos = (
        store_ok(check, store.latest_crl_info(false))?,
        store_ok(check, store.latest_crl_info(true))?,
    );
    ensure(
        check,
        infos == (Some(crl(3, None).info()), Some(crl(2, Some(1)).info())),
        || format!("latest CRLs (full, delta) described as {infos:?}"),
    )
}
