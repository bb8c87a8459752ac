//! A node's pre-signed responses in memory: serial → DER with its thisUpdate and
//! nextUpdate, in shards behind read-write locks so that readers on every core
//! rarely meet. The map is bounded: when a shard is full, a new serial pushes an
//! arbitrary one out (it is read again from the store when asked for).
//!
//! The rules, the same as the store's: a response replaces the one kept only if
//! it is at least as new, and a "good" response never replaces a "revoked" one
//! (a revocation is never undone). A response is served until its nextUpdate and
//! renewed from half its validity on.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::SystemTime,
};

use aws_lc_rs::digest;

use super::Presigned;

/// How many shards the map has.
const SHARDS: usize = 16;

/// One pre-signed response, as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedResponse {
    /// The DER OCSPResponse.
    pub der: Arc<[u8]>,
    /// Its thisUpdate.
    pub this_update: SystemTime,
    /// Its nextUpdate.
    pub next_update: SystemTime,
    /// Whether it answers "revoked".
    pub revoked: bool,
    /// A strong HTTP entity tag of the DER (quoted).
    pub etag: String,
}

impl From<Presigned> for CachedResponse {
    fn from(p: Presigned) -> Self {
        let hash = digest::digest(&digest::SHA256, &p.der);
        let hex: String = hash.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            der: Arc::from(p.der),
            this_update: p.this_update,
            next_update: p.next_update,
            revoked: p.revoked,
            etag: format!("\"{hex}\""),
        }
    }
}

impl CachedResponse {
    /// Whether it may still be served at `now` (before its nextUpdate).
    pub fn valid_at(&self, now: SystemTime) -> bool {
        now < self.next_update
    }

    /// Whether it is to be renewed at `now`: half its validity has passed.
    pub fn due_at(&self, now: SystemTime) -> bool {
        let life = self
            .next_update
            .duration_since(self.this_update)
            .unwrap_or_default();
        now >= self.this_update + life / 2
    }

    /// Whether `newer` (signed at `this_update`, revoked or not) is to replace
    /// this one.
    pub fn replaced_by(&self, this_update: SystemTime, revoked: bool) -> bool {
        this_update >= self.this_update && (revoked || !self.revoked)
    }
}

/// The pre-signed responses a node keeps in memory.
#[derive(Debug)]
pub struct OcspCache {
    shards: Vec<RwLock<HashMap<String, Arc<CachedResponse>>>>,
    per_shard: usize,
}

impl OcspCache {
    /// An empty map that keeps about `capacity` responses (at least one per shard).
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, serial: &str) -> &RwLock<HashMap<String, Arc<CachedResponse>>> {
        // FNV-1a: cheap, and serials are random already.
        let hash = serial.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let index = usize::try_from(hash % SHARDS as u64).unwrap_or(0);
        &self.shards[index % self.shards.len()]
    }

    /// The response kept for `serial` if it is still valid at `now`.
    pub fn valid(&self, serial: &str, now: SystemTime) -> Option<Arc<CachedResponse>> {
        let shard = self.shard(serial).read().ok()?;
        shard.get(serial).filter(|r| r.valid_at(now)).cloned()
    }

    /// Whether a response is kept for `serial` (valid or not).
    pub fn contains(&self, serial: &str) -> bool {
        self.shard(serial)
            .read()
            .is_ok_and(|shard| shard.contains_key(serial))
    }

    /// Keeps `response` for its serial unless the one kept is newer, or revoked
    /// while `response` is not; returns the response kept afterwards.
    pub fn put(&self, response: Presigned) -> Option<Arc<CachedResponse>> {
        let Ok(mut shard) = self.shard(&response.serial).write() else {
            return None;
        };
        if let Some(kept) = shard.get(&response.serial)
            && !kept.replaced_by(response.this_update, response.revoked)
        {
            return Some(Arc::clone(kept));
        }
        if shard.len() >= self.per_shard && !shard.contains_key(&response.serial) {
            let victim = shard.keys().next().cloned();
            if let Some(victim) = victim {
                shard.remove(&victim);
            }
        }
        let serial = response.serial.clone();
        let kept = Arc::new(CachedResponse::from(response));
        shard.insert(serial, Arc::clone(&kept));
        Some(kept)
    }

    /// How many responses are kept.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().map_or(0, |s| s.len()))
            .sum()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Clock, FixedClock};

    const HOUR: Duration = Duration::from_secs(3600);

    fn signed(serial: &str, at: &dyn Clock, revoked: bool, der: u8) -> Presigned {
        Presigned {
            serial: serial.into(),
            der: vec![der; 8],
            this_update: at.now(),
            next_update: at.now() + HOUR,
            revoked,
        }
    }

    #[test]
    fn a_response_is_served_until_its_next_update_and_due_from_half_its_life() {
        let start = FixedClock::at_unix(1_800_000_000);
        let cache = OcspCache::new(100);
        cache.put(signed("0A", &start, false, 1));
        let later = |secs| FixedClock(start.now() + Duration::from_secs(secs));
        let kept = cache.valid("0A", later(0).now()).unwrap();
        assert!(!kept.due_at(later(0).now()));
        assert!(!kept.due_at(later(1799).now()));
        assert!(kept.due_at(later(1800).now()));
        assert!(cache.valid("0A", later(3599).now()).is_some());
        // At nextUpdate it is no longer served, though still kept (to renew).
        assert!(cache.valid("0A", later(3600).now()).is_none());
        assert!(cache.contains("0A"));
        // Renewed: served again, a new ETag.
        let renewed = cache.put(signed("0A", &later(3600), false, 2)).unwrap();
        assert_eq!(cache.valid("0A", later(3600).now()), Some(renewed.clone()));
        assert_ne!(renewed.etag, kept.etag);
        assert!(cache.valid("0B", later(0).now()).is_none());
    }

    #[test]
    fn an_older_response_or_a_good_one_after_a_revoked_one_is_refused() {
        let start = FixedClock::at_unix(1_800_000_000);
        let later = FixedClock(start.now() + Duration::from_secs(60));
        let cache = OcspCache::new(100);
        cache.put(signed("0A", &later, false, 1));
        // Signed before: kept is the newer.
        let kept = cache.put(signed("0A", &start, true, 2)).unwrap();
        assert_eq!(&*kept.der, &[1; 8]);
        let revoked = cache.put(signed("0A", &later, true, 3)).unwrap();
        assert!(revoked.revoked);
        // A good response signed later (by a node that read before the
        // revocation) does not undo it.
        let after = FixedClock(later.now() + HOUR);
        assert!(cache.put(signed("0A", &after, false, 4)).unwrap().revoked);
        assert!(cache.put(signed("0A", &after, true, 5)).unwrap().revoked);
        assert_eq!(&*cache.valid("0A", after.now()).unwrap().der, &[5; 8]);
    }

    #[test]
    fn the_map_stays_bounded() {
        let now = FixedClock::at_unix(1_800_000_000);
        let cache = OcspCache::new(32);
        for i in 0..1000 {
            cache.put(signed(&format!("{i:04X}"), &now, false, 1));
        }
        assert!(cache.len() <= 32, "{}", cache.len());
        assert!(!cache.is_empty());
    }
}
