//! The audit log's target and detail columns in the page language. A detail is recorded as
//! the library wrote it (English, inside the hash chain, never rewritten); the
//! page shows the known forms from the catalogue (`audit.detail.*`), with what
//! they carry (a serial, a number, a name) filled in. A detail of no known form
//! (a reason the user typed, an error text) is shown as recorded and marked as
//! recorded text.

use topca_core::{
    lifecycle::{CertificateType, RevocationReason, VerificationMode},
    ra::AdminRole,
};

use crate::i18n::Lang;

/// Known forms: (pattern, key). `{0}` in a pattern stands for one non-empty part
/// that the translation carries over unchanged.
const FORMS: &[(&str, &str)] = &[
    (
        "authorization code mailed to the holder",
        "audit.detail.code_mailed",
    ),
    (
        "passcode pre-registration",
        "audit.detail.passcode_preregistration",
    ),
    ("OCSP responder certificate", "audit.detail.ocsp_responder"),
    ("central issuance", "audit.detail.central_issuance"),
    ("replacement", "audit.detail.replacement"),
    ("bulk issuance", "audit.detail.bulk_issuance"),
    ("database backup", "audit.detail.database_backup"),
    ("administrator {0}", "audit.detail.administrator"),
    ("certificate {0}", "audit.detail.certificate"),
    ("unknown name", "audit.detail.unknown_name"),
    ("locked out", "audit.detail.locked_out"),
    ("wrong password", "audit.detail.wrong_password"),
    (
        "wrong password, locked out",
        "audit.detail.wrong_password_locked",
    ),
    ("deleted, sessions ended", "audit.detail.deleted"),
    (
        "password set by another administrator, sessions ended, key recovery quarantine restarted",
        "audit.detail.password_reset",
    ),
    (
        "the requester cannot approve",
        "audit.detail.requester_cannot_approve",
    ),
    ("request {0}", "audit.detail.request"),
    ("reference {0}", "audit.detail.reference"),
    ("renewal of {0}", "audit.detail.renewal_of"),
    ("account {0}", "audit.detail.account"),
    ("ACME profile {0}", "audit.detail.acme_profile"),
    ("ACME account {0}", "audit.detail.acme_account"),
    ("ACME renewal cut-off", "audit.detail.acme_renewal_cutoff"),
    (
        "certificates issued before {0}",
        "audit.detail.issued_before",
    ),
    ("cleared", "audit.detail.cleared"),
    ("new key thumbprint {0}", "audit.detail.acme_new_key"),
    (
        "ACME account {0} deactivated",
        "audit.detail.acme_account_deactivated",
    ),
    ("wrong secret from {0}", "audit.detail.wrong_secret_from"),
    (
        "too many wrong secrets from {0}",
        "audit.detail.too_many_wrong_secrets",
    ),
    (
        "enveloped for signing certificate {0}",
        "audit.detail.enveloped_for",
    ),
    (
        "signing certificate {0}",
        "audit.detail.signing_certificate",
    ),
    ("client certificate {0}", "audit.detail.client_certificate"),
    ("{0} bytes downloaded", "audit.detail.bytes_downloaded"),
    ("{0} minutes", "audit.detail.minutes"),
    ("{0} sessions ended", "audit.detail.sessions_ended"),
    (
        "wrong authorization code (attempt {0})",
        "audit.detail.wrong_code",
    ),
    (
        "wrong or unchecked authorization code (attempt {0}), locked",
        "audit.detail.wrong_code_locked",
    ),
];

/// `detail` in the page language, and whether it is shown as recorded (no known form).
pub fn localize(t: Lang, detail: &str) -> (String, bool) {
    if detail.is_empty() {
        return (String::new(), false);
    }
    // Before the forms: `account {0}` would take a machine client's whole detail.
    if let Some(client) = client_added(t, detail) {
        return (client, false);
    }
    for (pattern, key) in FORMS {
        if let Some(part) = matches(pattern, detail) {
            return (t.f1(key, part), false);
        }
    }
    if let Some(recovery) = recovery(t, detail) {
        return (recovery, false);
    }
    if let Some(reason) = (0..=10)
        .filter_map(RevocationReason::from_code)
        .find(|r| r.label() == detail)
    {
        return (t.value("reason", reason), false);
    }
    if let Some(roles) = roles(t, detail) {
        return (roles, false);
    }
    if let Some(account) = former_account(t, detail) {
        return (account, false);
    }
    (detail.to_owned(), true)
}

/// The part of `detail` that `{0}` stands for in `pattern` (the whole match for a
/// pattern without it), if `detail` has that form.
fn matches<'a>(pattern: &str, detail: &'a str) -> Option<&'a str> {
    match pattern.split_once("{0}") {
        None => (pattern == detail).then_some(""),
        Some((before, after)) => {
            let part = detail.strip_prefix(before)?.strip_suffix(after)?;
            (!part.is_empty()).then_some(part)
        }
    }
}

/// A recovery as the KMC names it (`recovery ID of certificate SERIAL`).
fn recovery(t: Lang, text: &str) -> Option<String> {
    let (id, serial) = text
        .strip_prefix("recovery ")?
        .split_once(" of certificate ")?;
    (!id.is_empty() && !serial.is_empty()).then(|| t.f2("audit.detail.recovery", id, serial))
}

/// A list of administrator roles (`SuperAdmin, RaAdmin`), named in the page language.
fn roles(t: Lang, detail: &str) -> Option<String> {
    let names: Option<Vec<&str>> = detail
        .split(", ")
        .map(|name| {
            let role = match name {
                "SuperAdmin" => AdminRole::SuperAdmin,
                "RaAdmin" => AdminRole::RaAdmin,
                "KmcAdmin" => AdminRole::KmcAdmin,
                _ => return None,
            };
            Some(crate::admin::role_label(t, role))
        })
        .collect();
    Some(names?.join(t.s("audit.detail.list_separator")))
}

/// An account's former settings (`was O / OU, Single, Automatic, rsa2048`).
fn former_account(t: Lang, detail: &str) -> Option<String> {
    let rest = detail.strip_prefix("was ")?;
    let mut parts = rest.rsplitn(4, ", ");
    let algorithm = parts.next()?;
    let mode = parts.next()?;
    let kind = parts.next()?;
    let names = parts.next()?;
    let kind = [CertificateType::Single, CertificateType::Dual]
        .into_iter()
        .find(|k| format!("{k:?}") == kind)?;
    let mode = [
        VerificationMode::Automatic,
        VerificationMode::Manual,
        VerificationMode::Passcode,
    ]
    .into_iter()
    .find(|m| format!("{m:?}") == mode)?;
    let settings = [
        names.to_owned(),
        t.value("certificate_type", kind),
        t.value("verification", mode),
        algorithm_label(algorithm),
    ]
    .join(t.s("audit.detail.list_separator"));
    Some(t.f1("audit.detail.was", settings))
}

/// A machine client as added (`account 3, profiles tls-server, names [a.cn], 90 days`).
fn client_added(t: Lang, detail: &str) -> Option<String> {
    let (account, rest) = detail.strip_prefix("account ")?.split_once(", profiles ")?;
    let (profiles, rest) = rest.split_once(", names [")?;
    let (names, days) = rest.split_once("], ")?;
    let days = days.strip_suffix(" days")?;
    let profiles: Vec<String> = profiles
        .split(", ")
        .map(|p| {
            t.s(&format!("values.client_profile.{}", p.replace('-', "_")))
                .to_owned()
        })
        .collect();
    let separator = t.s("audit.detail.list_separator");
    Some(
        [
            t.f1("audit.detail.account", account),
            t.f1("audit.detail.client_profiles", profiles.join(separator)),
            t.f1("audit.detail.client_names", names),
            t.f1("audit.detail.days", days),
        ]
        .join(separator),
    )
}

/// A key algorithm as recorded (`rsa2048`) in its usual spelling (`RSA-2048`).
fn algorithm_label(recorded: &str) -> String {
    match recorded {
        "p256" => "P-256".to_owned(),
        "p384" => "P-384".to_owned(),
        "ed25519" => "Ed25519".to_owned(),
        other => match other.strip_prefix("rsa") {
            Some(bits) => format!("RSA-{bits}"),
            None => other.to_ascii_uppercase(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_forms_are_translated_and_others_kept() {
        assert_eq!(
            localize(Lang::Zh, "enveloped for signing certificate 6FCD"),
            ("已为签名证书 6FCD 生成数字信封".to_owned(), false)
        );
        assert_eq!(localize(Lang::Zh, "Key compromise").0, "密钥泄露");
        assert_eq!(
            localize(
                Lang::Zh,
                "was 新华书店 / 信息中心, Single, Automatic, rsa2048"
            )
            .0,
            "原设置：新华书店 / 信息中心、单证书、自动审核、RSA-2048"
        );
        assert_eq!(
            localize(Lang::Zh, "SuperAdmin, RaAdmin").0,
            "超级管理员、RA 管理员"
        );
        assert_eq!(
            localize(Lang::Zh, "电脑损坏"),
            ("电脑损坏".to_owned(), true)
        );
        assert_eq!(localize(Lang::En, "request 3").0, "request 3");
        assert!(localize(Lang::Zh, "request ").1);
        assert_eq!(
            localize(Lang::Zh, "recovery 96 of certificate 46").0,
            "证书 46 的密钥恢复 96"
        );
        assert_eq!(localize(Lang::Zh, "administrator root").0, "管理员 root");
        assert_eq!(
            localize(
                Lang::Zh,
                "account 3, profiles tls-server, tls-client, names [a.cn, b.cn], 90 days"
            )
            .0,
            "账户 3、证书类型 TLS 服务器、TLS 客户端、名称 a.cn, b.cn、90 天"
        );
        assert_eq!(localize(Lang::Zh, "ACME profile acme").0, "ACME 配置 acme");
    }
}
