//! Each account's server certificate policy: which names its TLS server
//! certificates may carry. The RA enforces it when a CSR is submitted and again
//! when the request is approved (the policy may have changed in between).

use crate::{
    error::{NameRefusal, PolicyError, RaError},
    name::SubjectAltNames,
};

/// Names a server certificate may carry unless the account says otherwise.
pub const DEFAULT_MAX_NAMES: u32 = 100;
/// The highest per-account limit on names an RA administrator may set.
pub const MAX_NAMES_CEILING: u32 = 1000;

/// What names an account's server certificates may carry.
///
/// The default is the safe one: no domain allowed yet (so nothing is issued until
/// an RA administrator names the organisation's domains), no wildcards, no IP
/// addresses, at most [`DEFAULT_MAX_NAMES`] names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPolicy {
    /// Domain suffixes, lower case: a DNS name (or an e-mail address's domain) is
    /// allowed when it equals one or ends with "." followed by one.
    pub allowed_domains: Vec<String>,
    /// Whether `*.` wildcard names are allowed (still inside the domains).
    pub allow_wildcards: bool,
    /// Whether IP addresses are allowed.
    pub allow_ip_addresses: bool,
    /// The most names (DNS, IP, e-mail) one certificate may carry.
    pub max_names: u32,
}

impl Default for ServerPolicy {
    fn default() -> Self {
        Self {
            allowed_domains: Vec::new(),
            allow_wildcards: false,
            allow_ip_addresses: false,
            max_names: DEFAULT_MAX_NAMES,
        }
    }
}

impl ServerPolicy {
    /// The policy with its domains normalised (trimmed, lower case, without a
    /// leading or trailing dot, duplicates dropped), or why it cannot be used:
    /// a domain that is not a DNS name, a wildcard or an IP address, a single
    /// label (a whole top-level domain), or a name limit outside
    /// 1–[`MAX_NAMES_CEILING`].
    pub fn validated(self) -> Result<Self, RaError> {
        let invalid = |problem: String| RaError::InvalidField {
            field: "allowed domains",
            problem,
        };
        let mut domains: Vec<String> = Vec::with_capacity(self.allowed_domains.len());
        for raw in &self.allowed_domains {
            let domain = raw.trim().trim_start_matches('.').to_ascii_lowercase();
            if domain.is_empty() {
                continue;
            }
            let mut probe = SubjectAltNames::default();
            let is_dns = probe.add_host(&domain).is_ok() && probe.ip_addresses.is_empty();
            let domain = probe.dns_names.pop().unwrap_or(domain);
            if !is_dns || domain.starts_with('*') {
                return Err(invalid(format!("\"{}\" is not a domain name", raw.trim())));
            }
            if !domain.contains('.') {
                return Err(invalid(format!(
                    "\"{domain}\" is a whole top-level domain; name the organisation's own domains"
                )));
            }
            if !domains.contains(&domain) {
                domains.push(domain);
            }
        }
        if !(1..=MAX_NAMES_CEILING).contains(&self.max_names) {
            return Err(RaError::InvalidField {
                field: "maximum names",
                problem: format!("must be between 1 and {MAX_NAMES_CEILING}"),
            });
        }
        Ok(Self {
            allowed_domains: domains,
            ..self
        })
    }

    /// Checks the names a certificate would carry, refusing the first one the
    /// policy does not allow (by name), or too many names.
    pub fn check(&self, names: &SubjectAltNames) -> Result<(), PolicyError> {
        let count = names.dns_names.len() + names.ip_addresses.len() + names.emails.len();
        if count > usize::try_from(self.max_names).unwrap_or(usize::MAX) {
            return Err(PolicyError::TooManyNames {
                count,
                max: self.max_names,
            });
        }
        let refuse = |name: &str, reason| {
            Err(PolicyError::NameNotAllowed {
                name: name.to_owned(),
                reason,
            })
        };
        for dns in &names.dns_names {
            let base = match dns.strip_prefix("*.") {
                Some(_) if !self.allow_wildcards => return refuse(dns, NameRefusal::Wildcard),
                Some(base) => base,
                None => dns.as_str(),
            };
            if let Some(reason) = self.domain_refusal(base) {
                return refuse(dns, reason);
            }
        }
        if let Some(ip) = names
            .ip_addresses
            .first()
            .filter(|_| !self.allow_ip_addresses)
        {
            return refuse(&ip.to_string(), NameRefusal::IpAddress);
        }
        for email in &names.emails {
            let domain = email.rsplit_once('@').map_or("", |(_, d)| d);
            if let Some(reason) = self.domain_refusal(domain) {
                return refuse(email, reason);
            }
        }
        Ok(())
    }

    /// Why `name` (lower case) is outside the allowed domains, if it is.
    fn domain_refusal(&self, name: &str) -> Option<NameRefusal> {
        if self.allowed_domains.is_empty() {
            return Some(NameRefusal::NoDomains);
        }
        let inside = self.allowed_domains.iter().any(|suffix| {
            name == suffix
                || name
                    .strip_suffix(suffix.as_str())
                    .is_some_and(|head| head.ends_with('.'))
        });
        (!inside).then_some(NameRefusal::OutsideDomains)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(hosts: &[&str]) -> SubjectAltNames {
        let mut names = SubjectAltNames::default();
        for host in hosts {
            if host.contains('@') {
                names.add_email(host).unwrap();
            } else {
                names.add_host(host).unwrap();
            }
        }
        names
    }

    fn example() -> ServerPolicy {
        ServerPolicy {
            allowed_domains: vec!["example.com".into()],
            ..ServerPolicy::default()
        }
    }

    fn refused(policy: &ServerPolicy, hosts: &[&str]) -> (String, NameRefusal) {
        match policy.check(&names(hosts)) {
            Err(PolicyError::NameNotAllowed { name, reason }) => (name, reason),
            other => panic!("{hosts:?}: expected a refused name, got {other:?}"),
        }
    }

    #[test]
    fn the_default_policy_allows_no_name_until_domains_are_set() {
        let policy = ServerPolicy::default();
        assert_eq!(policy.max_names, 100);
        assert!(!policy.allow_wildcards && !policy.allow_ip_addresses);
        assert_eq!(
            refused(&policy, &["www.example.com"]),
            ("www.example.com".into(), NameRefusal::NoDomains)
        );
    }

    #[test]
    fn a_name_matches_a_suffix_only_at_a_label_boundary() {
        let policy = example();
        assert!(
            policy
                .check(&names(&[
                    "example.com",
                    "www.example.com",
                    "a.b.example.com"
                ]))
                .is_ok()
        );
        for outside in ["badexample.com", "example.com.evil.net", "example.org"] {
            assert_eq!(
                refused(&policy, &["www.example.com", outside]),
                (outside.into(), NameRefusal::OutsideDomains)
            );
        }
        assert_eq!(
            refused(&policy, &["www.example.com", "ops@evil.net"]),
            ("ops@evil.net".into(), NameRefusal::OutsideDomains)
        );
        assert!(policy.check(&names(&["ops@example.com"])).is_ok());
    }

    #[test]
    fn wildcards_and_ip_addresses_need_the_account_to_allow_them() {
        let mut policy = example();
        assert_eq!(
            refused(&policy, &["*.example.com"]),
            ("*.example.com".into(), NameRefusal::Wildcard)
        );
        assert_eq!(
            refused(&policy, &["www.example.com", "192.0.2.1"]),
            ("192.0.2.1".into(), NameRefusal::IpAddress)
        );
        policy.allow_wildcards = true;
        policy.allow_ip_addresses = true;
        assert!(
            policy
                .check(&names(&["*.example.com", "192.0.2.1"]))
                .is_ok()
        );
        assert_eq!(
            refused(&policy, &["*.evil.net"]),
            ("*.evil.net".into(), NameRefusal::OutsideDomains)
        );
    }

    #[test]
    fn more_names_than_the_limit_are_refused() {
        let policy = ServerPolicy {
            max_names: 3,
            ..example()
        };
        assert!(
            policy
                .check(&names(&["a.example.com", "b.example.com", "c.example.com"]))
                .is_ok()
        );
        assert_eq!(
            policy.check(&names(&[
                "a.example.com",
                "b.example.com",
                "c.example.com",
                "d.example.com"
            ])),
            Err(PolicyError::TooManyNames { count: 4, max: 3 })
        );
    }

    #[test]
    fn domains_are_normalised_and_checked() {
        let policy = ServerPolicy {
            allowed_domains: vec![" .Example.COM. ".into(), "example.com".into(), "".into()],
            ..ServerPolicy::default()
        }
        .validated()
        .unwrap();
        assert_eq!(policy.allowed_domains, ["example.com"]);
        for bad in ["*.example.com", "192.0.2.1", "not a domain", "com"] {
            let policy = ServerPolicy {
                allowed_domains: vec![bad.into()],
                ..ServerPolicy::default()
            };
            assert!(
                matches!(policy.validated(), Err(RaError::InvalidField { .. })),
                "{bad}"
            );
        }
        for max_names in [0, MAX_NAMES_CEILING + 1] {
            let policy = ServerPolicy {
                max_names,
                ..example()
            };
            assert!(policy.validated().is_err(), "{max_names}");
        }
    }
}
