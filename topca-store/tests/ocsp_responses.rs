//! Pre-signed OCSP responses on SQLite and PostgreSQL: stored and read back, a
//! newer one replaces an older one but never the other way round, a good one
//! never replaces a revoked one, revoked ones are read back by time, the
//! certificates without a current response are found, and responses of
//! long-expired certificates are dropped.
//! PostgreSQL comes from `TOPCA_TEST_POSTGRES_URL`; with `CI=true` its absence
//! fails the tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::time::{Duration, SystemTime};

use common::{databases, issue_one};
use topca_core::{ocsp::Presigned, store::OcspStore};
use topca_store::DieselStore;

const HOUR: Duration = Duration::from_secs(3600);

fn response(serial: &str, at: SystemTime, revoked: bool, byte: u8) -> Presigned {
    Presigned {
        serial: serial.into(),
        der: vec![byte; 700],
        this_update: at,
        next_update: at + HOUR,
        revoked,
    }
}

#[test]
fn responses_are_stored_replaced_by_newer_ones_and_revocations_stick() {
    for (label, url, _cleanup) in databases("ocsp_put") {
        let store = DieselStore::open(&url).unwrap();
        let now = SystemTime::now();
        let earlier = now - Duration::from_secs(60);
        assert_eq!(store.ocsp_response("0A").unwrap(), None, "{label}");
        let first = response("0A", now, false, 1);
        assert_eq!(
            store
                .put_ocsp_responses(std::slice::from_ref(&first))
                .unwrap(),
            1
        );
        assert_eq!(store.ocsp_response("0A").unwrap(), Some(first.clone()));
        // Older: refused; newer: taken.
        assert_eq!(
            store
                .put_ocsp_responses(&[response("0A", earlier, false, 2)])
                .unwrap(),
            0,
            "{label}"
        );
        let revoked = response("0A", now + Duration::from_secs(1), true, 3);
        let other = response("0B", now, false, 4);
        assert_eq!(
            store.put_ocsp_responses(&[revoked.clone(), other]).unwrap(),
            2
        );
        assert_eq!(store.ocsp_response("0A").unwrap(), Some(revoked.clone()));
        // A later good response does not undo a revocation.
        let later = now + HOUR;
        assert_eq!(
            store
                .put_ocsp_responses(&[response("0A", later, false, 5)])
                .unwrap(),
            0,
            "{label}"
        );
        assert!(store.ocsp_response("0A").unwrap().unwrap().revoked);
        // The revoked ones read back by thisUpdate, oldest first.
        let revoked_too = response("0C", now + Duration::from_secs(2), true, 6);
        store
            .put_ocsp_responses(std::slice::from_ref(&revoked_too))
            .unwrap();
        assert_eq!(
            store.revoked_ocsp_responses_since(now, 10).unwrap(),
            vec![revoked.clone(), revoked_too.clone()],
            "{label}"
        );
        assert_eq!(
            store.revoked_ocsp_responses_since(now, 1).unwrap(),
            vec![revoked.clone()]
        );
        assert_eq!(
            store
                .revoked_ocsp_responses_since(now + Duration::from_secs(2), 10)
                .unwrap(),
            vec![revoked_too]
        );
        // Dropped once past their nextUpdate by the given time.
        assert_eq!(
            store
                .prune_ocsp_responses(now + HOUR + Duration::from_millis(500))
                .unwrap(),
            1,
            "{label}"
        );
        assert_eq!(store.ocsp_response("0B").unwrap(), None);
        assert_eq!(store.ocsp_response("0A").unwrap(), Some(revoked));
    }
}

#[test]
fn certificates_without_a_current_response_are_found() {
    for (label, url, _cleanup) in databases("ocsp_due") {
        let store = DieselStore::open(&url).unwrap();
        let before = SystemTime::now() - Duration::from_secs(120);
        let serials: Vec<String> = (0..3)
            .map(|i| issue_one(&store, &format!("ocsp{i}@example.cn")))
            .collect();
        let now = SystemTime::now();
        let renew_before = now + HOUR / 2;
        let missing = |from, limit| -> Vec<String> {
            let found = store.certificates_missing_ocsp(from, now, limit).unwrap();
            // Oldest notBefore first, each after `from`.
            assert!(found.windows(2).all(|w| w[0].1 <= w[1].1), "{label}");
            assert!(found.iter().all(|(_, at)| *at >= from), "{label}");
            let mut serials: Vec<String> = found.into_iter().map(|(serial, _)| serial).collect();
            // (Certificates of the same second come in any order.)
            serials.sort();
            serials
        };
        let mut all = serials.clone();
        all.sort();
        // From the start, or from before they were issued (their notBefore is
        // backdated by a minute): every one.
        for from in [SystemTime::UNIX_EPOCH, before] {
            assert_eq!(missing(from, 10), all, "{label}");
            let two = missing(from, 2);
            assert_eq!(two.len(), 2, "{label}");
            assert!(two.iter().all(|s| all.contains(s)), "{label}");
        }
        // The newest notBefore is theirs (backdated by a minute).
        let newest = store.newest_not_before().unwrap().unwrap();
        assert!(newest >= before && newest <= now, "{label}");
        // From after them: none.
        assert!(missing(now + Duration::from_secs(60), 10).is_empty());
        assert!(
            store
                .ocsp_responses_due(now, renew_before, 10)
                .unwrap()
                .is_empty()
        );
        // One answered fresh, one answered but due (signed 40 minutes ago).
        store
            .put_ocsp_responses(&[
                response(&serials[0], now, false, 1),
                response(&serials[1], now - Duration::from_secs(40 * 60), false, 2),
            ])
            .unwrap();
        assert_eq!(missing(before, 10), serials[2..], "{label}");
        assert_eq!(
            store.ocsp_responses_due(now, renew_before, 10).unwrap(),
            serials[1..2],
            "{label}"
        );
        // Expired certificates (a year and more from now) need none.
        let next_year = now + Duration::from_secs(366 * 86_400);
        assert!(
            store
                .certificates_missing_ocsp(before, next_year, 10)
                .unwrap()
                .is_empty(),
            "{label}"
        );
        assert!(
            store
                .ocsp_responses_due(next_year, next_year + HOUR, 10)
                .unwrap()
                .is_empty(),
            "{label}"
        );
    }
}
