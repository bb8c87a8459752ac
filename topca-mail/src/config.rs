//! Where mail goes, from a URL.

use std::path::PathBuf;

use thiserror::Error;

/// Why a mailer could not be set up.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetupError {
    /// The mail URL is not one TopCA understands.
    #[error(
        "the mail URL {url} is not valid ({problem}); use file:///path/to/outbox, smtp://host:port, smtp://user:password@host:587?tls=required or smtps://user:password@host:465"
    )]
    Url {
        /// The URL, password masked.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The sender address is not an e-mail address.
    #[error("the sender address {0:?} is not a valid e-mail address")]
    From(String),
    /// The outbox directory cannot be created.
    #[error(transparent)]
    Outbox(#[from] topca_core::MailError),
}

/// How messages leave.
#[derive(Clone, PartialEq, Eq)]
pub enum Transport {
    /// Written as `.eml` files into a directory (the embedded default).
    Outbox(PathBuf),
    /// Sent over SMTP; the URL is lettre's (`smtp://`, `smtps://`, `?tls=…`).
    Smtp(String),
}

impl std::fmt::Debug for Transport {
    /// Never prints an SMTP password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Outbox(dir) => write!(f, "Outbox({})", dir.display()),
            Self::Smtp(url) => write!(f, "Smtp({})", mask_password(url)),
        }
    }
}

/// The mail configuration: transport and sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailConfig {
    /// How messages leave.
    pub transport: Transport,
    /// The sender, `Name <address>` or an address.
    pub from: String,
    /// A PEM file of CA certificates to trust for the SMTP server's TLS certificate,
    /// besides the system's (a private mail server's CA).
    pub trusted_ca: Option<PathBuf>,
}

impl MailConfig {
    /// A configuration from a URL: `file:///dir` (or a plain path) for an outbox,
    /// `smtp://…` or `smtps://…` for SMTP.
    pub fn from_url(url: &str, from: &str) -> Result<Self, SetupError> {
        let url = url.trim();
        let invalid = |problem: &str| SetupError::Url {
            url: mask_password(url),
            problem: problem.to_owned(),
        };
        let transport = if let Some(path) = url.strip_prefix("file://") {
            if path.is_empty() {
                return Err(invalid("the outbox directory is missing"));
            }
            Transport::Outbox(PathBuf::from(path))
        } else if url.starts_with("smtp://") || url.starts_with("smtps://") {
            let host = url
                .split_once("://")
                .map(|(_, rest)| rest.rsplit('@').next().unwrap_or(rest))
                .unwrap_or_default();
            if host.is_empty() || host.starts_with(':') || host.starts_with('/') {
                return Err(invalid("the SMTP host is missing"));
            }
            Transport::Smtp(url.to_owned())
        } else if !url.is_empty() && !url.contains("://") {
            Transport::Outbox(PathBuf::from(url))
        } else {
            return Err(invalid("unknown scheme"));
        };
        let from = from.trim();
        if from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(SetupError::From(from.to_owned()));
        }
        Ok(Self {
            transport,
            from: from.to_owned(),
            trusted_ca: None,
        })
    }

    /// Also trusts the CA certificates in the PEM file `path` for SMTP over TLS.
    pub fn with_trusted_ca(mut self, path: impl Into<PathBuf>) -> Self {
        self.trusted_ca = Some(path.into());
        self
    }
}

/// `scheme://user:****@host…`: the URL with any password replaced.
pub(crate) fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            let masked = if credentials.contains(':') {
                format!("{user}:****")
            } else {
                user.to_owned()
            };
            format!("{scheme}://{masked}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_choose_the_transport_and_passwords_stay_hidden() {
        let from = "TopCA <ca@example.cn>";
        assert_eq!(
            MailConfig::from_url("file:///var/lib/topca/outbox", from)
                .unwrap()
                .transport,
            Transport::Outbox("/var/lib/topca/outbox".into())
        );
        assert_eq!(
            MailConfig::from_url("outbox", from).unwrap().transport,
            Transport::Outbox("outbox".into())
        );
        let smtp = MailConfig::from_url("smtps://ca:s3cret@mail.example.cn:465", from).unwrap();
        assert!(!format!("{smtp:?}").contains("s3cret"));
        assert_eq!(
            mask_password("smtp://ca:s3cret@mail:587?tls=required"),
            "smtp://ca:****@mail:587?tls=required"
        );
        for bad in ["ftp://x", "smtp://", "smtp://user:pw@", "file://", ""] {
            let err = MailConfig::from_url(bad, from).unwrap_err();
            assert!(matches!(err, SetupError::Url { .. }), "{bad}: {err:?}");
        }
        let err = MailConfig::from_url("smtp://u:topsecret@:25", from).unwrap_err();
        assert!(!err.to_string().contains("topsecret"), "{err}");
        assert!(matches!(
            MailConfig::from_url("outbox", "not an address").unwrap_err(),
            SetupError::From(_)
        ));
    }
}
