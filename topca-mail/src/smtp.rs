//! SMTP URLs: `smtp://[user:password@]host[:port][?tls=none|opportunistic|required]`
//! (STARTTLS when required, port 587 by default then) and
//! `smtps://[user:password@]host[:port]` (implicit TLS, port 465).

use lettre::{
    SmtpTransport,
    transport::smtp::{
        authentication::{Credentials, Mechanism},
        client::{Certificate, Tls, TlsParameters},
    },
};
use zeroize::Zeroizing;

use crate::config::{SetupError, mask_password};

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// Plain text (loopback or a trusted network only).
    None,
    /// STARTTLS if the server offers it.
    Opportunistic,
    /// STARTTLS, or no mail.
    Required,
    /// TLS from the first byte (SMTPS).
    Implicit,
}

/// Builds the SMTP transport for `url`, trusting `extra_roots` (PEM) besides the
/// system's CA certificates.
pub(crate) fn transport(
    url: &str,
    extra_roots: Option<&[u8]>,
) -> Result<SmtpTransport, SetupError> {
    let invalid = |problem: &str| SetupError::Url {
        url: mask_password(url),
        problem: problem.to_owned(),
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("no scheme"))?;
    let (authority, query) = match rest.split_once('?') {
        Some((a, q)) => (a.trim_end_matches('/'), q),
        None => (rest.trim_end_matches('/'), ""),
    };
    let (credentials, host_port) = match authority.rsplit_once('@') {
        Some((c, h)) => (Some(c), h),
        None => (None, authority),
    };
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) => (
            h,
            Some(
                p.parse::<u16>()
                    .map_err(|_| invalid("the port is not a number"))?,
            ),
        ),
        None => (host_port, None),
    };
    if host.is_empty() {
        return Err(invalid("the SMTP host is missing"));
    }
    let security = match (scheme, query.strip_prefix("tls=")) {
        ("smtps", None) => Security::Implicit,
        ("smtp", None) | ("smtp", Some("none")) => Security::None,
        ("smtp", Some("opportunistic")) => Security::Opportunistic,
        ("smtp", Some("required")) => Security::Required,
        _ => {
            return Err(invalid(
                "use tls=none, tls=opportunistic or tls=required with smtp://",
            ));
        }
    };
    let default_port = match security {
        Security::Implicit => 465,
        Security::Required => 587,
        Security::None | Security::Opportunistic => 25,
    };
    let mut builder = SmtpTransport::builder_dangerous(host).port(port.unwrap_or(default_port));
    if security != Security::None {
        let mut parameters = TlsParameters::builder(host.to_owned());
        if let Some(pem) = extra_roots {
            for block in pem_certificates(pem) {
                let certificate = Certificate::from_pem(block.as_bytes())
                    .map_err(|_| invalid("the trusted CA file holds no valid certificate"))?;
                parameters = parameters.add_root_certificate(certificate);
            }
        }
        let parameters = parameters
            .build_rustls()
            .map_err(|e| invalid(&format!("TLS set-up failed: {e}")))?;
        builder = builder.tls(match security {
            Security::Implicit => Tls::Wrapper(parameters),
            Security::Required => Tls::Required(parameters),
            _ => Tls::Opportunistic(parameters),
        });
    }
    if let Some(credentials) = credentials {
        let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
        let password = Zeroizing::new(percent_decode(password));
        builder = builder
            .credentials(Credentials::new(percent_decode(user), password.to_string()))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    Ok(builder
        .timeout(Some(std::time::Duration::from_secs(20)))
        .build())
}

/// The `-----BEGIN CERTIFICATE-----` blocks of a PEM file.
fn pem_certificates(pem: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(pem);
    let mut blocks = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let Some(end) = rest[start..].find("-----END CERTIFICATE-----") else {
            break;
        };
        let end = start + end + "-----END CERTIFICATE-----".len();
        blocks.push(format!("{}\n", &rest[start..end]));
        rest = &rest[end..];
    }
    blocks
}

/// `%XX` escapes decoded (user names and passwords in URLs).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_escapes_decode() {
        assert_eq!(percent_decode("p%40ss%3Aw%25rd"), "p@ss:w%rd");
        assert_eq!(percent_decode("100%"), "100%");
        for good in [
            "smtp://127.0.0.1:2525",
            "smtp://u:p@mail.example.cn:587?tls=required",
            "smtp://mail.example.cn?tls=opportunistic",
            "smtps://u:p%40ss@mail.example.cn",
        ] {
            transport(good, None).unwrap();
        }
        for bad in [
            "smtp://mail:port",
            "smtp://mail?tls=sometimes",
            "smtps://mail?tls=required",
            "smtp://:25",
        ] {
            assert!(transport(bad, None).is_err(), "{bad}");
        }
    }
}
