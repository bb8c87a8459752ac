//! Certificate serial numbers: 16 octets, positive, never longer than 20 octets
//! (RFC 5280 §4.1.2.2). The first six carry the millisecond of issuance and the
//! other ten are random: 80 bits from the CA's random source, above the 64 bits
//! the CA/B Forum asks for (BR §7.1), so serials are neither sequential nor
//! predictable. Serials issued one after another sort one after another, so
//! the stores' indexes on them grow at their end instead of at a random page
//! each (a random key dirties a page of every such index per certificate).

use std::time::{SystemTime, UNIX_EPOCH};

use x509_cert::serial_number::SerialNumber;

use crate::{error::Error, random::RandomSource};

/// Octets in a serial.
pub const SERIAL_LEN: usize = 16;
/// Octets of a serial that carry the time of issuance.
const TIME_LEN: usize = 6;
/// Random octets in a serial (80 bits).
pub const SERIAL_RANDOM_LEN: usize = SERIAL_LEN - TIME_LEN;

/// Draws a fresh serial for a certificate issued `at`: see the module
/// documentation.
pub fn random_serial(random: &dyn RandomSource, at: SystemTime) -> Result<SerialNumber, Error> {
    Ok(SerialNumber::new(&random_serial_bytes(random, at)?)?)
}

/// The octets of a fresh serial as [`random_serial`] draws them: DER-encoded they
/// are always `02 10` followed by these 16 octets.
pub fn random_serial_bytes(
    random: &dyn RandomSource,
    at: SystemTime,
) -> Result<[u8; SERIAL_LEN], Error> {
    let mut octets = [0u8; SERIAL_RANDOM_LEN];
    random.fill(&mut octets)?;
    Ok(serial_at(at, &octets))
}

/// The serial of a certificate issued `at` with the random octets `random`:
/// the milliseconds since the Unix epoch in the first six octets (46 bits,
/// enough until the year 4200), their top two bits `01` so that the INTEGER
/// is positive and always encoded in 16 octets (no leading-zero trimming),
/// then the random octets.
pub(crate) fn serial_at(at: SystemTime, random: &[u8; SERIAL_RANDOM_LEN]) -> [u8; SERIAL_LEN] {
    let millis = at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    let millis = u64::try_from(millis).unwrap_or(u64::MAX) & ((1 << 46) - 1);
    let mut serial = [0u8; SERIAL_LEN];
    let (time, rest) = serial.split_at_mut(TIME_LEN);
    time.copy_from_slice(&millis.to_be_bytes()[8 - TIME_LEN..]);
    time[0] |= 0x40;
    rest.copy_from_slice(random);
    serial
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;
    use der::Encode;
    use std::time::Duration;

    #[test]
    fn serials_are_positive_sixteen_octets_and_distinct() {
        let now = SystemTime::now();
        let a = random_serial(&OsRandom, now).unwrap();
        let b = random_serial(&OsRandom, now).unwrap();
        assert_ne!(a, b);
        for s in [a, b] {
            assert_eq!(s.as_bytes().len(), SERIAL_LEN);
            assert_eq!(s.as_bytes()[0] & 0xc0, 0x40);
            assert_eq!(s.to_der().unwrap().len(), 2 + SERIAL_LEN);
        }
    }

    #[test]
    fn later_serials_sort_after_earlier_ones_and_keep_their_random_octets() {
        let random = [0xff; SERIAL_RANDOM_LEN];
        let zero = [0; SERIAL_RANDOM_LEN];
        let at = UNIX_EPOCH + Duration::from_millis(1_796_601_600_123);
        let first = serial_at(at, &random);
        let next = serial_at(at + Duration::from_millis(1), &zero);
        assert!(next > first, "{first:02x?} {next:02x?}");
        assert_eq!(first[TIME_LEN..], random);
        assert_eq!(next[TIME_LEN..], zero);
        // The time survives the marker bits: 1,796,601,600,123 ms < 2^41.
        let mut time = [0u8; 8];
        time[8 - TIME_LEN..].copy_from_slice(&first[..TIME_LEN]);
        assert_eq!(u64::from_be_bytes(time) & !(0x40 << 40), 1_796_601_600_123);
        // Before the epoch, and past the 46 bits, a serial is still well formed.
        for at in [
            UNIX_EPOCH - Duration::from_secs(1),
            UNIX_EPOCH + Duration::from_secs(1 << 50),
        ] {
            assert_eq!(serial_at(at, &random)[0] & 0xc0, 0x40);
        }
    }
}
