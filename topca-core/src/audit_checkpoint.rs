//! Signed checkpoints of the audit log: the CA signs (sequence number, value of
//! that entry, time), and the checkpoints are kept outside the database (a file of
//! the data directory, an HTTP endpoint for an external witness). A log shorter
//! than a checkpoint, or whose entry at the checkpoint has another value, was cut
//! off or rewritten, whoever had write access to the database.
//!
//! The signed message is `"TopCA audit checkpoint v1\0" ‖ sequence (8 bytes,
//! big-endian) ‖ value (32 bytes) ‖ seconds since the Unix epoch (8 bytes,
//! big-endian)`, signed with the issuing CA's key and its usual algorithm.

use std::time::{Duration, SystemTime};

use crate::{
    algorithm::KeyAlgorithm,
    audit::AuditEntry,
    certificate::Certificate,
    error::{AuditError, KeyError},
    key::SigningKey,
};

/// A signed statement that the audit log had `sequence` entries, the newest with
/// value `head`, at time `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The newest entry's sequence number (0 for an empty log).
    pub sequence: u64,
    /// The newest entry's value (zeros for an empty log).
    pub head: [u8; 32],
    /// When the checkpoint was made (whole seconds).
    pub at: SystemTime,
    /// The CA's signature over [`Checkpoint::message`].
    pub signature: Vec<u8>,
}

impl Checkpoint {
    /// Signs the log whose newest entry is `newest` (none: empty) at `at` with `key`.
    pub fn sign(
        newest: Option<&AuditEntry>,
        at: SystemTime,
        key: &SigningKey,
    ) -> Result<Self, KeyError> {
        let seconds = seconds(at);
        let (sequence, head) = newest.map_or((0, [0u8; 32]), |e| (e.sequence, e.hash));
        let signature = key
            .sign_bytes(&message(sequence, &head, seconds))?
            .as_bytes()
            .to_vec();
        Ok(Self {
            sequence,
            head,
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(seconds),
            signature,
        })
    }

    /// The bytes the signature covers.
    pub fn message(&self) -> Vec<u8> {
        message(self.sequence, &self.head, seconds(self.at))
    }

    /// Checks the signature with the public key of the CA certificate `ca`.
    pub fn verify(&self, ca: &Certificate) -> Result<(), AuditError> {
        let forged = AuditError::CheckpointForged {
            sequence: self.sequence,
        };
        let key = ca.public_key().map_err(|_| forged.clone())?;
        let algorithm = KeyAlgorithm::ALL
            .into_iter()
            .find(|a| a.kind() == key.kind())
            .ok_or_else(|| forged.clone())?
            .signature_algorithm();
        key.verify(algorithm, &self.message(), &self.signature)
            .map_err(|_| forged)
    }

    /// One line of the checkpoint file: `sequence head-hex seconds signature-hex`.
    pub fn to_line(&self) -> String {
        format!(
            "{} {} {} {}",
            self.sequence,
            hex(&self.head),
            seconds(self.at),
            hex(&self.signature)
        )
    }

    /// A checkpoint from a line written by [`Checkpoint::to_line`].
    pub fn from_line(line: &str) -> Result<Self, AuditError> {
        let unreadable = || AuditError::CheckpointUnreadable;
        let mut parts = line.split_ascii_whitespace();
        let sequence = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(unreadable)?;
        let head = parts
            .next()
            .and_then(unhex)
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(unreadable)?;
        let seconds: u64 = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(unreadable)?;
        let signature = parts.next().and_then(unhex).ok_or_else(unreadable)?;
        if parts.next().is_some() {
            return Err(unreadable());
        }
        Ok(Self {
            sequence,
            head,
            at: SystemTime::UNIX_EPOCH
                .checked_add(Duration::from_secs(seconds))
                .ok_or_else(unreadable)?,
            signature,
        })
    }

    /// The newest checkpoint of a checkpoint file's text (its last line), if any.
    pub fn latest_in(text: &str) -> Result<Option<Self>, AuditError> {
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(Self::from_line)
            .transpose()
    }
}

fn message(sequence: u64, head: &[u8; 32], seconds: u64) -> Vec<u8> {
    let mut out = b"TopCA audit checkpoint v1\0".to_vec();
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(head);
    out.extend_from_slice(&seconds.to_be_bytes());
    out
}

fn seconds(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        CertificateAuthority, Environment,
        audit::{Actor, AuditAction, AuditRecord, Outcome},
        name::DistinguishedName,
        profile::{Profile, ProfileKind},
        random::OsRandom,
    };

    fn new_ca(algorithm: KeyAlgorithm) -> CertificateAuthority {
        CertificateAuthority::create_root(
            SigningKey::generate(algorithm, &OsRandom).unwrap(),
            &DistinguishedName::with_common_name("Audit Root"),
            &Profile::new(ProfileKind::RootCa, 3650).unwrap(),
            Environment::system(),
        )
        .unwrap()
    }

    fn entry() -> AuditEntry {
        AuditEntry::append(
            None,
            AuditRecord {
                at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
                actor: Actor::System,
                action: AuditAction::CaCreated,
                target: "CA".into(),
                outcome: Outcome::Success,
                detail: String::new(),
            },
            None,
        )
    }

    #[test]
    fn a_checkpoint_verifies_with_the_ca_certificate_and_survives_its_file_line() {
        for algorithm in [
            KeyAlgorithm::Sm2,
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::Ed25519,
        ] {
            let ca = new_ca(algorithm);
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_123);
            let checkpoint = Checkpoint::sign(Some(&entry()), at, ca.key()).unwrap();
            assert_eq!(checkpoint.sequence, 1);
            assert_eq!(checkpoint.verify(ca.certificate()), Ok(()));
            let read = Checkpoint::from_line(&checkpoint.to_line()).unwrap();
            assert_eq!(read, checkpoint);
            assert_eq!(
                Checkpoint::latest_in(&format!("{}\nnot a checkpoint\n", checkpoint.to_line())),
                Err(AuditError::CheckpointUnreadable)
            );
            assert_eq!(
                Checkpoint::latest_in(&format!("{}\n\n", checkpoint.to_line())).unwrap(),
                Some(checkpoint)
            );
        }
    }

    #[test]
    fn a_forged_checkpoint_is_refused() {
        let ca = new_ca(KeyAlgorithm::Sm2);
        let other = new_ca(KeyAlgorithm::Sm2);
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_123);
        let honest = Checkpoint::sign(Some(&entry()), at, ca.key()).unwrap();
        // A larger sequence number under the old signature.
        let mut moved = honest.clone();
        moved.sequence = 7;
        assert_eq!(
            moved.verify(ca.certificate()),
            Err(AuditError::CheckpointForged { sequence: 7 })
        );
        // Signed by someone else's key.
        let foreign = Checkpoint::sign(Some(&entry()), at, other.key()).unwrap();
        assert_eq!(
            foreign.verify(ca.certificate()),
            Err(AuditError::CheckpointForged { sequence: 1 })
        );
        assert_eq!(
            Checkpoint::from_line("1 zz 3 00"),
            Err(AuditError::CheckpointUnreadable)
        );
    }
}
