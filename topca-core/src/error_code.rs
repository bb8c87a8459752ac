//! Stable machine codes and Chinese messages for [`Error`].
//!
//! A code names the cause, not the sentence: clients match on [`Error::code`]
//! (`pin_wrong`, `csr_invalid`…) and show [`Error::message_zh`] or the English
//! `Display` to people. Codes never change once published; a new cause gets a new
//! code. [`CODES`] lists every one, in the order of the variants.

use crate::error::{
    AuditError, CsrError, EncodingError, Error, KeyError, KmcError, MailError, NameError,
    NameRefusal, PolicyError, RaError, SecretError, StoreError,
};

/// Every code [`Error::code`] can answer, in the order of the variants.
pub const CODES: &[&str] = &[
    "key_algorithm_unknown",
    "key_algorithm_unsupported",
    "key_rsa_size",
    "key_rsa_exponent",
    "key_malformed",
    "key_pkcs8_invalid",
    "key_decryption_failed",
    "key_encryption_failed",
    "key_generation_failed",
    "signing_failed",
    "signature_invalid",
    "key_certificate_mismatch",
    "key_algorithm_mismatch",
    "pkcs11_uri_invalid",
    "pkcs11_module_failed",
    "pkcs11_token_not_found",
    "pkcs11_pin_missing",
    "pkcs11_pin_wrong",
    "pkcs11_pin_locked",
    "pkcs11_key_not_found",
    "pkcs11_sessions_exhausted",
    "pkcs11_token_lost",
    "pkcs11_failed",
    "key_not_exportable",
    "pkcs11_key_not_sensitive",
    "csr_invalid",
    "csr_version",
    "csr_signature_invalid",
    "csr_key_refused",
    "csr_extensions_invalid",
    "name_missing",
    "name_too_long",
    "name_country_invalid",
    "email_invalid",
    "name_control_character",
    "alt_name_invalid",
    "validity_invalid",
    "validity_empty",
    "issuer_not_valid",
    "key_not_allowed",
    "server_name_missing",
    "path_length_exceeded",
    "url_invalid",
    "profile_wrong",
    "post_issuance_check_failed",
    "template_check_failed",
    "rsa_exponent_refused",
    "name_not_allowed",
    "too_many_names",
    "certificate_invalid",
    "pkcs7_invalid",
    "encoding_failed",
    "crl_encoding_failed",
    "password_too_short",
    "password_too_long",
    "password_hash_invalid",
    "random_failed",
    "audit_entry_altered",
    "audit_log_broken",
    "audit_log_truncated",
    "audit_log_rewritten",
    "audit_checkpoint_forged",
    "audit_checkpoint_unreadable",
    "state_transition_refused",
    "login_refused",
    "session_required",
    "certificate_login_refused",
    "admin_unknown",
    "own_super_role",
    "own_account",
    "kmc_not_configured",
    "account_unknown",
    "client_token_refused",
    "client_unknown",
    "credential_unknown",
    "profile_not_allowed",
    "request_unknown",
    "field_invalid",
    "pin_wrong",
    "request_locked",
    "pin_expired",
    "request_state",
    "server_needs_approval",
    "agreement_not_accepted",
    "organization_fixed",
    "not_renewable",
    "role_required",
    "not_passcode_account",
    "certificate_unknown",
    "certificate_already_revoked",
    "password_wrong",
    "reason_not_allowed",
    "holder_already_registered",
    "bulk_needs_single",
    "store_conflict",
    "serial_duplicate",
    "record_not_found",
    "serial_not_reserved",
    "tbs_mismatch",
    "database_unavailable",
    "mail_refused",
    "mail_unreachable",
    "mail_outbox_unwritable",
    "master_key_wrong",
    "escrowed_key_damaged",
    "key_unsuitable",
    "key_not_escrowed",
    "recovery_unknown",
    "not_recovery_agent",
    "recovery_agent_quarantined",
    "code_not_mailed",
    "same_administrator",
    "recovery_state",
    "code_wrong",
    "code_used",
    "code_expired",
    "recovery_locked",
    "not_holders_signing_certificate",
    "escrow_token_unavailable",
];

impl Error {
    /// The stable machine code of this error (one of [`CODES`]).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Key(e) => key_code(e),
            Self::Csr(e) => match e {
                CsrError::Malformed => "csr_invalid",
                CsrError::Version => "csr_version",
                CsrError::BadSignature => "csr_signature_invalid",
                CsrError::Key(_) => "csr_key_refused",
                CsrError::Extensions => "csr_extensions_invalid",
            },
            Self::Name(e) => match e {
                NameError::Missing(_) => "name_missing",
                NameError::TooLong { .. } => "name_too_long",
                NameError::Country => "name_country_invalid",
                NameError::Email(_) => "email_invalid",
                NameError::ControlCharacter(_) => "name_control_character",
                NameError::AltName(_) => "alt_name_invalid",
            },
            Self::Policy(e) => policy_code(e),
            Self::Encoding(e) => match e {
                EncodingError::Certificate(_) => "certificate_invalid",
                EncodingError::Pkcs7(_) => "pkcs7_invalid",
                EncodingError::Der(_) => "encoding_failed",
                EncodingError::Crl(_) => "crl_encoding_failed",
            },
            Self::Secret(e) => match e {
                SecretError::PasswordTooShort { .. } => "password_too_short",
                SecretError::PasswordTooLong { .. } => "password_too_long",
                SecretError::Hashing => "password_hash_invalid",
                SecretError::Random => "random_failed",
            },
            Self::Audit(e) => match e {
                AuditError::Altered { .. } => "audit_entry_altered",
                AuditError::Broken { .. } => "audit_log_broken",
                AuditError::Truncated { .. } => "audit_log_truncated",
                AuditError::Rewritten { .. } => "audit_log_rewritten",
                AuditError::CheckpointForged { .. } => "audit_checkpoint_forged",
                AuditError::CheckpointUnreadable => "audit_checkpoint_unreadable",
            },
            Self::Transition(_) => "state_transition_refused",
            Self::Ra(e) => ra_code(e),
            Self::Store(e) => match e {
                StoreError::Conflict => "store_conflict",
                StoreError::DuplicateSerial(_) => "serial_duplicate",
                StoreError::NotFound => "record_not_found",
                StoreError::AlreadyRevoked(_) => "certificate_already_revoked",
                StoreError::NotReserved(_) => "serial_not_reserved",
                StoreError::TbsMismatch(_) => "tbs_mismatch",
                StoreError::Backend(_) => "database_unavailable",
            },
            Self::Mail(e) => match e {
                MailError::Refused(_) => "mail_refused",
                MailError::Unreachable(_) => "mail_unreachable",
                MailError::Outbox(_) => "mail_outbox_unwritable",
            },
            Self::Kmc(e) => kmc_code(e),
            Self::Random => "random_failed",
        }
    }

    /// The error as a plain sentence in Simplified Chinese (the English one is
    /// the `Display`).
    pub fn message_zh(&self) -> String {
        match self {
            Self::Key(e) => key_zh(e),
            Self::Csr(e) => match e {
                CsrError::Malformed => "该请求不是有效的 PKCS#10 证书签名请求（PEM 或 DER）".into(),
                CsrError::Version => "该请求的版本不受支持".into(),
                CsrError::BadSignature => "该请求的签名验证失败：已被篡改或用其他密钥签名".into(),
                CsrError::Key(k) => format!("该请求的密钥不可接受：{}", key_zh(k)),
                CsrError::Extensions => "无法读取该请求的扩展".into(),
            },
            Self::Name(e) => match e {
                NameError::Missing(what) => format!("名称的 {what} 为必填项"),
                NameError::TooLong { attribute, max } => {
                    format!("名称的 {attribute} 超过 {max} 个字符")
                }
                NameError::Country => "国家必须是两个字母的代码，例如 CN".into(),
                NameError::Email(address) => format!("“{address}”不是有效的电子邮件地址"),
                NameError::ControlCharacter(what) => format!("名称的 {what} 含有控制字符"),
                NameError::AltName(name) => format!("“{name}”不是有效的 DNS 名称或 IP 地址"),
            },
            Self::Policy(e) => policy_zh(e),
            Self::Encoding(e) => match e {
                EncodingError::Certificate(_) => "数据不是有效的 X.509 证书（PEM 或 DER）".into(),
                EncodingError::Pkcs7(_) => "数据不是有效的 PKCS#7 证书包".into(),
                EncodingError::Der(_) => "无法编码 ASN.1 结构".into(),
                EncodingError::Crl(_) => "无法生成证书吊销列表".into(),
            },
            Self::Secret(e) => match e {
                SecretError::PasswordTooShort { min } => format!("口令至少需要 {min} 个字符"),
                SecretError::PasswordTooLong { max } => format!("口令最多 {max} 个字符"),
                SecretError::Hashing => "存储的口令散列无效".into(),
                SecretError::Random => RANDOM_ZH.into(),
            },
            Self::Audit(e) => audit_zh(e),
            Self::Transition(t) => {
                format!("状态为“{}”的{}不能执行“{}”", t.from, t.what, t.action)
            }
            Self::Ra(e) => ra_zh(e),
            Self::Store(e) => match e {
                StoreError::Conflict => "记录已被他人修改，请重试".into(),
                StoreError::DuplicateSerial(s) => format!("序列号为 {s} 的证书已存在"),
                StoreError::NotFound => "记录不存在".into(),
                StoreError::AlreadyRevoked(s) => format!("证书 {s} 已被吊销"),
                StoreError::NotReserved(s) => format!("证书 {s} 签发前未登记，未予保存"),
                StoreError::TbsMismatch(s) => format!("证书 {s} 与签发前登记的内容不符，未予保存"),
                StoreError::Backend(_) => "数据库暂不可用，请稍后重试".into(),
            },
            Self::Mail(e) => match e {
                MailError::Refused(to) => format!("邮件服务器拒绝了发往 {to} 的邮件"),
                MailError::Unreachable(_) => "无法连接邮件服务器，邮件可稍后重发".into(),
                MailError::Outbox(dir) => {
                    format!("无法写入邮件发件箱 {dir}，请检查该目录存在且可写")
                }
            },
            Self::Kmc(e) => kmc_zh(e),
            Self::Random => RANDOM_ZH.into(),
        }
    }
}

const RANDOM_ZH: &str = "系统随机数发生器故障";

fn key_code(e: &KeyError) -> &'static str {
    match e {
        KeyError::UnknownAlgorithm(_) => "key_algorithm_unknown",
        KeyError::UnsupportedAlgorithm(_) => "key_algorithm_unsupported",
        KeyError::RsaKeySize(_) => "key_rsa_size",
        KeyError::RsaExponent => "key_rsa_exponent",
        KeyError::Malformed(_) => "key_malformed",
        KeyError::Pkcs8 => "key_pkcs8_invalid",
        KeyError::Decryption => "key_decryption_failed",
        KeyError::Encryption => "key_encryption_failed",
        KeyError::Generation => "key_generation_failed",
        KeyError::Signing => "signing_failed",
        KeyError::BadSignature => "signature_invalid",
        KeyError::CertificateKeyMismatch => "key_certificate_mismatch",
        KeyError::AlgorithmMismatch { .. } => "key_algorithm_mismatch",
        KeyError::Pkcs11Uri(_) => "pkcs11_uri_invalid",
        KeyError::Pkcs11Module(_) => "pkcs11_module_failed",
        KeyError::TokenNotFound(_) => "pkcs11_token_not_found",
        KeyError::PinMissing(_) => "pkcs11_pin_missing",
        KeyError::WrongPin => "pkcs11_pin_wrong",
        KeyError::PinLocked => "pkcs11_pin_locked",
        KeyError::KeyNotFound(_) => "pkcs11_key_not_found",
        KeyError::TooManySessions(_) => "pkcs11_sessions_exhausted",
        KeyError::TokenLost(_) => "pkcs11_token_lost",
        KeyError::Pkcs11(_) => "pkcs11_failed",
        KeyError::NotExportable => "key_not_exportable",
        KeyError::NotSensitive => "pkcs11_key_not_sensitive",
    }
}

fn key_zh(e: &KeyError) -> String {
    match e {
        KeyError::UnknownAlgorithm(name) => format!(
            "未知的密钥算法“{name}”；请使用 rsa2048、rsa3072、rsa4096、p256、p384、ed25519 或 sm2"
        ),
        KeyError::UnsupportedAlgorithm(what) => format!("该密钥使用了不支持的算法或曲线（{what}）"),
        KeyError::RsaKeySize(bits) => {
            format!("RSA 密钥长度必须在 2048 到 8192 位之间；该密钥为 {bits} 位")
        }
        KeyError::RsaExponent => "RSA 公钥指数不可接受".into(),
        KeyError::Malformed(kind) => format!("密钥格式错误，或不是有效的 {kind} 密钥"),
        KeyError::Pkcs8 => "私钥文件不是有效的 PKCS#8 文档".into(),
        KeyError::Decryption => "无法解密私钥：口令错误或文件损坏".into(),
        KeyError::Encryption => "无法加密私钥".into(),
        KeyError::Generation => "密钥生成失败".into(),
        KeyError::Signing => "签名操作失败".into(),
        KeyError::BadSignature => "签名验证失败".into(),
        KeyError::CertificateKeyMismatch => "私钥与 CA 证书不匹配".into(),
        KeyError::AlgorithmMismatch { signature, key } => {
            format!("签名算法 {signature} 不能用于 {key} 密钥")
        }
        KeyError::Pkcs11Uri(why) => format!("PKCS#11 URI 不可用：{why}"),
        KeyError::Pkcs11Module(why) => format!("无法加载 PKCS#11 模块：{why}"),
        KeyError::TokenNotFound(token) => format!("未找到 PKCS#11 令牌“{token}”"),
        KeyError::PinMissing(why) => format!("缺少 PKCS#11 令牌的 PIN：{why}"),
        KeyError::WrongPin => "PKCS#11 令牌拒绝了该 PIN".into(),
        KeyError::PinLocked => "PKCS#11 令牌的用户 PIN 已被锁定".into(),
        KeyError::KeyNotFound(name) => format!("PKCS#11 令牌中没有密钥 {name}"),
        KeyError::TooManySessions(n) => format!("全部 {n} 个 PKCS#11 会话都在使用中"),
        KeyError::TokenLost(why) => format!("PKCS#11 令牌已丢失且无法重新打开（{why}）"),
        KeyError::Pkcs11(why) => format!("PKCS#11 令牌操作失败：{why}"),
        KeyError::NotExportable => "私钥保存在 PKCS#11 令牌中，不能导出".into(),
        KeyError::NotSensitive => "令牌未将该密钥标记为敏感且不可导出，不予使用".into(),
    }
}

fn policy_code(e: &PolicyError) -> &'static str {
    match e {
        PolicyError::Validity { .. } => "validity_invalid",
        PolicyError::EmptyValidity => "validity_empty",
        PolicyError::IssuerNotValid => "issuer_not_valid",
        PolicyError::KeyNotAllowed { .. } => "key_not_allowed",
        PolicyError::NoServerName => "server_name_missing",
        PolicyError::PathLength => "path_length_exceeded",
        PolicyError::Url(_) => "url_invalid",
        PolicyError::WrongProfile { .. } => "profile_wrong",
        PolicyError::PostIssuanceCheck => "post_issuance_check_failed",
        PolicyError::TemplateCheck => "template_check_failed",
        PolicyError::RsaExponent { .. } => "rsa_exponent_refused",
        PolicyError::NameNotAllowed { .. } => "name_not_allowed",
        PolicyError::TooManyNames { .. } => "too_many_names",
    }
}

fn policy_zh(e: &PolicyError) -> String {
    match e {
        PolicyError::Validity { max_days } => format!("有效期必须在 1 天到 {max_days} 天之间"),
        PolicyError::EmptyValidity => "证书的结束时间早于开始时间".into(),
        PolicyError::IssuerNotValid => "签发 CA 证书当前不在有效期内".into(),
        PolicyError::KeyNotAllowed { key, profile } => {
            format!("{key} 密钥不能用于 {profile} 证书")
        }
        PolicyError::NoServerName => "服务器证书至少需要一个 DNS 名称或 IP 地址".into(),
        PolicyError::PathLength => "此 CA 不能再签发 CA 证书".into(),
        PolicyError::Url(url) => format!("“{url}”不是 http 或 https 地址"),
        PolicyError::WrongProfile { expected, given } => {
            format!("此操作需要 {expected} 模板，而不是 {given} 模板")
        }
        PolicyError::PostIssuanceCheck => "签发后的证书未通过自检，已被丢弃".into(),
        PolicyError::TemplateCheck => "签发模板与已检查的编码不符，已被拒绝".into(),
        PolicyError::RsaExponent { exponent } => {
            format!("RSA 密钥必须使用公钥指数 65537；该密钥使用 {exponent}")
        }
        PolicyError::NameNotAllowed { name, reason } => {
            format!("此帐户的服务器证书不允许“{name}”：{}", refusal_zh(*reason))
        }
        PolicyError::TooManyNames { count, max } => {
            format!("证书将包含 {count} 个名称；此帐户每张服务器证书最多允许 {max} 个")
        }
    }
}

fn refusal_zh(reason: NameRefusal) -> &'static str {
    match reason {
        NameRefusal::NoDomains => "该帐户尚未设置允许的域名，需由 RA 管理员先行设置",
        NameRefusal::OutsideDomains => "它不在该帐户允许的域名范围内",
        NameRefusal::Wildcard => "该帐户不允许通配符名称",
        NameRefusal::IpAddress => "该帐户不允许 IP 地址",
    }
}

fn audit_zh(e: &AuditError) -> String {
    match e {
        AuditError::Altered { sequence } => format!("审计记录 {sequence} 已被篡改"),
        AuditError::Broken { sequence } => {
            format!("审计日志在记录 {sequence} 处断裂：有记录被删除或重排")
        }
        AuditError::Truncated { sequence, head } => {
            format!("审计日志被截断：缺少记录 {sequence}，检查点覆盖 {head} 条记录")
        }
        AuditError::Rewritten { sequence, head } => {
            format!("审计日志自记录 {sequence} 起被重写：记录 {head} 与已签名的检查点不符")
        }
        AuditError::CheckpointForged { sequence } => {
            format!("记录 {sequence} 处的审计检查点是伪造的：其签名无法用 CA 证书验证")
        }
        AuditError::CheckpointUnreadable => "审计检查点文件无法读取".into(),
    }
}

fn ra_code(e: &RaError) -> &'static str {
    match e {
        RaError::WrongLogin => "login_refused",
        RaError::NoSession => "session_required",
        RaError::CertificateLoginRefused(_) => "certificate_login_refused",
        RaError::UnknownAdmin => "admin_unknown",
        RaError::OwnSuperRole => "own_super_role",
        RaError::OwnAccount => "own_account",
        RaError::KmcNotConfigured => "kmc_not_configured",
        RaError::UnknownAccount => "account_unknown",
        RaError::ClientTokenRefused => "client_token_refused",
        RaError::UnknownClient => "client_unknown",
        RaError::UnknownCredential => "credential_unknown",
        RaError::ProfileNotAllowed => "profile_not_allowed",
        RaError::UnknownRequest => "request_unknown",
        RaError::InvalidField { .. } => "field_invalid",
        RaError::WrongPinOrPassword { .. } => "pin_wrong",
        RaError::Locked => "request_locked",
        RaError::PinExpired => "pin_expired",
        RaError::WrongState(_) => "request_state",
        RaError::ServerNeedsApproval => "server_needs_approval",
        RaError::AgreementNotAccepted => "agreement_not_accepted",
        RaError::OrganizationFixed => "organization_fixed",
        RaError::NotRenewable { .. } => "not_renewable",
        RaError::NotPermitted(_) => "role_required",
        RaError::NotPasscodeAccount => "not_passcode_account",
        RaError::UnknownCertificate => "certificate_unknown",
        RaError::AlreadyRevoked => "certificate_already_revoked",
        RaError::WrongPassword => "password_wrong",
        RaError::ReasonNotAllowed => "reason_not_allowed",
        RaError::AlreadyRegistered => "holder_already_registered",
        RaError::BulkNeedsSingle => "bulk_needs_single",
    }
}

fn ra_zh(e: &RaError) -> String {
    match e {
        RaError::WrongLogin => {
            "管理员名称或口令错误，或该管理员因多次输错口令被锁定（请 15 分钟后再试）".into()
        }
        RaError::NoSession => "请先以管理员身份登录（会话已结束）".into(),
        RaError::CertificateLoginRefused(why) => format!("此证书不能登录：{why}"),
        RaError::UnknownAdmin => "没有该名称的管理员".into(),
        RaError::OwnSuperRole => "不能移除自己的超级管理员角色，请联系其他超级管理员".into(),
        RaError::OwnAccount => "不能删除自己的管理员帐号，请联系其他超级管理员".into(),
        RaError::KmcNotConfigured => "此帐户签发双证书，但未配置密钥管理中心，请联系管理员".into(),
        RaError::UnknownAccount => "帐户不存在".into(),
        RaError::ClientTokenRefused => "API 令牌缺失、错误或已被吊销".into(),
        RaError::UnknownClient => "没有该名称的机器客户端".into(),
        RaError::UnknownCredential => "没有该编号的 CMP 凭据或 EAB 密钥".into(),
        RaError::ProfileNotAllowed => "此客户端不能使用该证书模板".into(),
        RaError::UnknownRequest => "没有该编号的申请".into(),
        RaError::InvalidField { field, problem } => format!("字段“{field}”无效：{problem}"),
        RaError::WrongPinOrPassword { attempts_left } => {
            format!("身份识别码或用户口令错误（还可尝试 {attempts_left} 次）")
        }
        RaError::Locked => {
            "由于您的地址多次输错，此申请已被锁定；请稍后再试或请 RA 管理员解锁".into()
        }
        RaError::PinExpired => "身份识别码已过期，请向 RA 管理员申请新的身份识别码".into(),
        RaError::WrongState(state) => format!("此申请的状态为：{state}"),
        RaError::ServerNeedsApproval => "服务器证书需要由管理员审批的帐户".into(),
        RaError::AgreementNotAccepted => "必须接受用户协议".into(),
        RaError::OrganizationFixed => "单位（O）和部门（OU）不能更改；请重新申请证书".into(),
        RaError::NotRenewable { days } => {
            format!("只有在 {days} 天内到期的有效证书才能更新")
        }
        RaError::NotPermitted(role) => format!("此操作需要{}角色", role_zh(role)),
        RaError::NotPasscodeAccount => "此帐户不使用授权码模式".into(),
        RaError::UnknownCertificate => "未找到该证书".into(),
        RaError::AlreadyRevoked => "该证书已被吊销".into(),
        RaError::WrongPassword => "用户口令错误".into(),
        RaError::ReasonNotAllowed => "此处不能选择该吊销原因".into(),
        RaError::AlreadyRegistered => {
            "该持有者已在此帐户登记（同一电子邮件有未完成的申请或有效证书）".into()
        }
        RaError::BulkNeedsSingle => {
            "批量制证只用于单证书帐户；双证书帐户的持有者须自行获取证书".into()
        }
    }
}

fn kmc_code(e: &KmcError) -> &'static str {
    match e {
        KmcError::WrongMasterKey => "master_key_wrong",
        KmcError::Damaged => "escrowed_key_damaged",
        KmcError::Random => "random_failed",
        KmcError::UnsuitableKey(_) => "key_unsuitable",
        KmcError::NotEscrowed => "key_not_escrowed",
        KmcError::UnknownRecovery => "recovery_unknown",
        KmcError::NotAnAgent(_) => "not_recovery_agent",
        KmcError::AgentQuarantined { .. } => "recovery_agent_quarantined",
        KmcError::CodeNotMailed => "code_not_mailed",
        KmcError::SameAdministrator => "same_administrator",
        KmcError::RecoveryState(_) => "recovery_state",
        KmcError::WrongCode { .. } => "code_wrong",
        KmcError::CodeUsed => "code_used",
        KmcError::CodeExpired => "code_expired",
        KmcError::RecoveryLocked => "recovery_locked",
        KmcError::NotHoldersSigningCertificate => "not_holders_signing_certificate",
        KmcError::Token(_) => "escrow_token_unavailable",
    }
}

fn kmc_zh(e: &KmcError) -> String {
    match e {
        KmcError::WrongMasterKey => "托管密钥是用另一个 KMC 主密钥封装的".into(),
        KmcError::Damaged => "托管密钥已损坏或属于另一张证书".into(),
        KmcError::Random => RANDOM_ZH.into(),
        KmcError::UnsuitableKey(why) => format!("该密钥不能这样使用：{why}"),
        KmcError::NotEscrowed => "此证书没有托管密钥；只有双证书帐户的加密证书才有托管密钥".into(),
        KmcError::UnknownRecovery => "没有该标识的密钥恢复申请".into(),
        KmcError::NotAnAgent(why) => format!("此管理员不能参与密钥恢复：{why}"),
        KmcError::AgentQuarantined { until } => {
            format!("此管理员最近才通过控制台创建或获得 kmc 角色，自 {until} 起方可参与密钥恢复")
        }
        KmcError::CodeNotMailed => {
            "授权码无法邮寄给持有人，审批已撤回；邮件恢复正常后请重新申请恢复".into()
        }
        KmcError::SameAdministrator => "密钥恢复必须由申请人以外的另一位 KMC 管理员审批".into(),
        KmcError::RecoveryState(state) => {
            format!("此密钥恢复的状态为：{}", recovery_state_zh(state))
        }
        KmcError::WrongCode { attempts_left } => {
            format!("授权码错误（还可尝试 {attempts_left} 次）")
        }
        KmcError::CodeUsed => "此授权码已被使用".into(),
        KmcError::CodeExpired => "授权码已过期，请联系 KMC 管理员重新发起恢复".into(),
        KmcError::RecoveryLocked => "多次输错授权码，此密钥恢复已被锁定；请联系 KMC 管理员".into(),
        KmcError::NotHoldersSigningCertificate => {
            "请选择您本人在同一帐户下、于恢复申请之前签发的有效签名证书来接收密钥".into()
        }
        KmcError::Token(why) => format!("封装托管密钥的 PKCS#11 令牌无响应：{why}"),
    }
}

/// The Chinese name of a role as [`RaError::NotPermitted`] names it in English.
fn role_zh(role: &str) -> &str {
    match role {
        "RA administrator" => " RA 管理员",
        "KMC administrator" => " KMC 管理员",
        "super administrator" => "超级管理员",
        other => other,
    }
}

/// The Chinese words of a recovery state as [`KmcError::RecoveryState`] names it
/// in English ([`crate::kmc::RecoveryState::label`]).
fn recovery_state_zh(state: &str) -> &str {
    match state {
        "waiting for a second KMC administrator" => "等待第二名 KMC 管理员审批",
        "approved" => "已批准",
        "already used" => "已使用",
        "rejected" => "已拒绝",
        "expired" => "已过期",
        "locked" => "已锁定",
        other => other,
    }
}

#[cfg(test)]
#[path = "error_code_tests.rs"]
mod tests;
