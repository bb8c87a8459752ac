//! Certificate serial numbers: 16 random octets, positive, never longer than
//! 20 octets (RFC 5280 §4.1.2.2; CA/B Forum BR §7.1 asks for 64 bits of entropy).

use x509_cert::serial_number::SerialNumber;

use crate::{error::Error, random::RandomSource};

/// Octets in a serial (126 bits of entropy after fixing the top two bits).
pub const SERIAL_LEN: usize = 16;

/// Draws a fresh serial: the top bit is cleared so the INTEGER is positive and the
/// next bit set so the encoding is always 16 octets (no leading-zero trimming).
pub fn random_serial(random: &dyn RandomSource) -> Result<SerialNumber, Error> {
    Ok(SerialNumber::new(&random_serial_bytes(random)?)?)
}

/// The octets of a fresh serial as [`random_serial`] draws them: DER-encoded they
/// are always `02 10` followed by these 16 octets.
pub fn random_serial_bytes(random: &dyn RandomSource) -> Result<[u8; SERIAL_LEN], Error> {
    let mut bytes = [0u8; SERIAL_LEN];
    random.fill(&mut bytes)?;
    Ok(serial_from_random(bytes))
}

/// A serial from 16 random octets: the top bit cleared, the next one set.
pub(crate) fn serial_from_random(mut bytes: [u8; SERIAL_LEN]) -> [u8; SERIAL_LEN] {
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;
    use der::Encode;

    #[test]
    fn serials_are_positive_sixteen_octets_and_distinct() {
        let a = random_serial(&OsRandom).unwrap();
        let b = random_serial(&OsRandom).unwrap();
        assert_ne!(a, b);
        for s in [a, b] {
            assert_eq!(s.as_bytes().len(), SERIAL_LEN);
            assert_eq!(s.as_bytes()[0] & 0x80, 0);
            assert!(s.to_der().unwrap().len() <= 22);
        }
    }
}
