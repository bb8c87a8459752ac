//! The text of every message, in Simplified Chinese (default) and English.

use topca_core::{
    format_utc,
    lifecycle::RequestKind,
    mail::{Envelope, Mail, RecoveryStep},
    ra::Language,
};
use zeroize::Zeroizing;

/// A message ready to send: subject, plain-text body and an optional attachment.
pub struct Rendered {
    /// The subject line (lettre encodes it per RFC 2047).
    pub subject: String,
    /// The plain-text body; holds the secret, if the message carries one.
    pub body: Zeroizing<String>,
    /// An attachment: file name, MIME type, content.
    pub attachment: Option<(String, String, Vec<u8>)>,
}

impl std::fmt::Debug for Rendered {
    /// Never prints the body (it may hold a PIN).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rendered({:?}, body: …)", self.subject)
    }
}

const SIGNATURE_ZH: &str = "\n\n此邮件由 TopCA 证书服务系统自动发送，请勿直接回复。";
const SIGNATURE_EN: &str = "\n\nThis message was sent automatically by the TopCA certificate service; please do not reply.";

/// The subject and body of `envelope` in its language.
pub fn render(envelope: &Envelope) -> Rendered {
    let zh = envelope.language == Language::Chinese;
    let text = |chinese: String, english: String| if zh { chinese } else { english };
    let (subject, body, attachment, given) = match &envelope.mail {
        Mail::RegistrationConfirmation {
            request,
            holder,
            service_url,
        } => (
            text(
                format!("证书申请注册确认（申请号 {}）", request.0),
                format!("Certificate application registered (request {})", request.0),
            ),
            text(
                format!(
                    "您好：\n\n您的证书申请已注册，申请号为 {}。管理员审核通过后，您将收到一封含有身份识别码（PIN）的邮件，凭 PIN 和您的用户口令即可获取证书。\n\n证书服务中心：{service_url}",
                    request.0
                ),
                format!(
                    "Hello,\n\nYour certificate application is registered as request {}. Once an administrator approves it you will receive a PIN by mail; with the PIN and your user password you can retrieve the certificate.\n\nCertificate service centre: {service_url}",
                    request.0
                ),
            ),
            None,
            Some(Given::Name(holder)),
        ),
        Mail::RequestApproved {
            request,
            kind,
            holder,
            pin,
            retrieve_url,
        } => {
            let (what_zh, what_en) = match kind {
                RequestKind::Renewal => ("证书更新申请", "certificate renewal"),
                RequestKind::Replacement => ("证书替换申请", "certificate replacement"),
                _ => ("证书申请", "certificate application"),
            };
            (
                text(
                    format!("{what_zh}已批准：身份识别码（申请号 {}）", request.0),
                    format!(
                        "Your {what_en} is approved: your PIN (request {})",
                        request.0
                    ),
                ),
                text(
                    format!(
                        "您好：\n\n您的{what_zh}（申请号 {}）已批准。您的身份识别码（PIN）是：\n\n    {}\n\n请在以下页面输入 PIN 和您的用户口令获取证书：{retrieve_url}\nPIN 只能使用一次，并在有效期后失效；同一网络地址输错 5 次后，该地址将被锁定 15 分钟。",
                        request.0,
                        pin.as_str()
                    ),
                    format!(
                        "Hello,\n\nYour {what_en} (request {}) is approved. Your PIN is:\n\n    {}\n\nEnter the PIN and your user password at {retrieve_url} to retrieve the certificate.\nThe PIN works once and expires; after 5 wrong attempts from one address, that address is locked out for 15 minutes.",
                        request.0,
                        pin.as_str()
                    ),
                ),
                None,
                Some(Given::Name(holder)),
            )
        }
        Mail::RequestRejected {
            request,
            holder,
            reason,
        } => (
            text(
                format!("证书申请未获批准（申请号 {}）", request.0),
                format!("Certificate application rejected (request {})", request.0),
            ),
            text(
                format!(
                    "您好：\n\n很抱歉，您的证书申请（申请号 {}）未获批准。\n原因：{reason}",
                    request.0
                ),
                format!(
                    "Hello,\n\nYour certificate application (request {}) was not approved.\nReason: {reason}",
                    request.0
                ),
            ),
            None,
            Some(Given::Name(holder)),
        ),
        Mail::ReplacementConfirmation {
            request,
            holder,
            link,
        } => (
            text(
                format!("证书替换确认（申请号 {}）", request.0),
                format!(
                    "Confirm your certificate replacement (request {})",
                    request.0
                ),
            ),
            text(
                format!(
                    "您好：\n\n我们收到了您的证书替换请求。请打开以下链接确认替换（链接只能使用一次）：\n\n{}\n\n如果这不是您本人的操作，请忽略此邮件。",
                    link.as_str()
                ),
                format!(
                    "Hello,\n\nWe received a request to replace your certificate. Open this link to confirm it (it works once):\n\n{}\n\nIf you did not ask for this, ignore this message.",
                    link.as_str()
                ),
            ),
            None,
            Some(Given::Name(holder)),
        ),
        Mail::Pkcs12Password {
            request,
            holder,
            serial,
            password,
        } => (
            text(
                format!("证书文件口令（参考号 {}）", request.0),
                format!("The password of your certificate file ({})", request.0),
            ),
            text(
                format!(
                    "您好：\n\n管理员已为您签发证书（序列号 {serial}），证书和私钥保存在 PKCS#12 文件中，由管理员交给您。打开该文件的口令是：\n\n    {}\n\n此口令也是您的用户口令（吊销、更新证书时使用）。请妥善保管，不要与文件放在一起。",
                    password.as_str()
                ),
                format!(
                    "Hello,\n\nYour administrator issued a certificate for you (serial {serial}); it and its key are in a PKCS#12 file your administrator hands to you. The file's password is:\n\n    {}\n\nIt is also your user password (for revoking or renewing the certificate). Keep it apart from the file.",
                    password.as_str()
                ),
            ),
            None,
            Some(Given::Name(holder)),
        ),
        Mail::Passcode {
            request,
            holder,
            code,
            retrieve_url,
        } => (
            text(
                format!("证书参考号和授权码（参考号 {}）", request.0),
                format!(
                    "Your certificate reference number and authorization code ({})",
                    request.0
                ),
            ),
            text(
                format!(
                    "您好：\n\n管理员已为您登记证书。参考号：{}\n授权码：\n\n    {}\n\n请在 {retrieve_url} 输入参考号和授权码，设置您的用户口令并获取证书。授权码只能使用一次。",
                    request.0,
                    code.as_str()
                ),
                format!(
                    "Hello,\n\nYour administrator registered a certificate for you. Reference number: {}\nAuthorization code:\n\n    {}\n\nEnter both at {retrieve_url}, choose your user password and retrieve the certificate. The code works once.",
                    request.0,
                    code.as_str()
                ),
            ),
            None,
            Some(Given::Name(holder)),
        ),
        Mail::ServerCertificateIssued {
            request,
            server,
            serial,
            pem,
        } => (
            text(
                format!("服务器证书已签发（申请号 {}）", request.0),
                format!("Server certificate issued (request {})", request.0),
            ),
            text(
                format!(
                    "您好：\n\n服务器证书申请（申请号 {}）已批准，证书已签发，序列号 {serial}。证书见附件 certificate.pem。",
                    request.0
                ),
                format!(
                    "Hello,\n\nThe server certificate application (request {}) is approved and the certificate issued, serial {serial}. It is attached as certificate.pem.",
                    request.0
                ),
            ),
            Some((
                "certificate.pem".to_owned(),
                "application/x-pem-file".to_owned(),
                pem.as_bytes().to_vec(),
            )),
            Some(Given::Server(server)),
        ),
        Mail::CertificateRevoked {
            serial,
            holder,
            reason,
        } => (
            text(
                format!("证书已吊销（序列号 {serial}）"),
                format!("Certificate revoked (serial {serial})"),
            ),
            text(
                format!(
                    "您好：\n\n您的证书（序列号 {serial}）已被吊销，吊销原因：{}。该证书从现在起不能再使用。",
                    reason.label_zh()
                ),
                format!(
                    "Hello,\n\nYour certificate (serial {serial}) has been revoked, reason: {}. It can no longer be used.",
                    reason.label()
                ),
            ),
            None,
            Some(Given::Name(holder)),
        ),
        Mail::KeyRecoveryCode {
            recovery,
            holder,
            serial,
            code,
            expires,
            recover_url,
        } => (
            text(
                format!("加密密钥恢复授权码（加密证书 {serial}）"),
                format!("Authorization code to recover your encryption key (certificate {serial})"),
            ),
            text(
                format!(
                    "您好：\n\n加密证书（序列号 {serial}）的密钥恢复申请（编号 {recovery}）已由两名密钥管理员批准。授权码只发给您本人，管理员看不到。您的授权码是：\n\n    {}\n\n请在 {recover_url} 选择您的签名证书并输入授权码，加密密钥和证书将以数字信封的形式再次发给您。授权码只能使用一次，{} 前有效。",
                    code.as_str(),
                    format_utc(*expires)
                ),
                format!(
                    "Hello,\n\nTwo key-management administrators approved the recovery (number {recovery}) of the key of your encryption certificate (serial {serial}). The code is sent to you alone; no administrator sees it. Your authorization code is:\n\n    {}\n\nAt {recover_url}, choose your signing certificate and enter the code: the encryption key and certificate are delivered again, enveloped for that certificate. The code works once, until {}.",
                    code.as_str(),
                    format_utc(*expires)
                ),
            ),
            None,
            Some(Given::Name(holder)),
        ),
        Mail::KeyRecoveryNotice {
            recovery,
            holder,
            serial,
            step,
        } => {
            let (what_zh, what_en) = match step {
                RecoveryStep::Requested => (
                    "一名密钥管理员申请恢复该密钥，需要另一名密钥管理员批准。批准后授权码将单独发送给您。".to_owned(),
                    "a key-management administrator asked to recover this key; a second one must approve. If approved, the authorization code is sent to you alone.".to_owned(),
                ),
                RecoveryStep::Rejected => (
                    "密钥管理员拒绝了该恢复申请。".to_owned(),
                    "a key-management administrator refused this recovery.".to_owned(),
                ),
                RecoveryStep::Delivered { signing_serial } => (
                    format!("加密密钥已以数字信封的形式发给签名证书（序列号 {signing_serial}）。"),
                    format!("the key was delivered, enveloped for the signing certificate with serial {signing_serial}."),
                ),
                RecoveryStep::WrongCode { attempts_left } => (
                    format!("有人输入了错误的授权码，还剩 {attempts_left} 次机会。"),
                    format!("a wrong authorization code was entered; {attempts_left} attempts are left."),
                ),
                RecoveryStep::Locked => (
                    "错误的授权码次数过多，该恢复已被锁定。".to_owned(),
                    "too many wrong authorization codes were entered; the recovery is locked.".to_owned(),
                ),
            };
            (
                text(
                    format!("加密密钥恢复通知（加密证书 {serial}）"),
                    format!("Key recovery notice (encryption certificate {serial})"),
                ),
                text(
                    format!(
                        "您好：\n\n关于加密证书（序列号 {serial}）的密钥恢复（编号 {recovery}）：{what_zh}\n\n如果这不是您要求的，请立即联系证书服务机构。"
                    ),
                    format!(
                        "Hello,\n\nThis is about the key recovery (number {recovery}) of your encryption certificate (serial {serial}): {what_en}\n\nIf you did not ask for this, contact the certificate service at once."
                    ),
                ),
                None,
                Some(Given::Name(holder)),
            )
        }
        Mail::CertificateExpiring {
            serial,
            holder,
            not_after,
            renew_url,
        } => (
            text(
                format!("证书即将到期（序列号 {serial}）"),
                format!("Your certificate expires soon (serial {serial})"),
            ),
            text(
                format!(
                    "您好：\n\n您的证书（序列号 {serial}）将于 {} 到期。请在 {renew_url} 更新证书。",
                    format_utc(*not_after)
                ),
                format!(
                    "Hello,\n\nYour certificate (serial {serial}) expires on {}. Renew it at {renew_url}.",
                    format_utc(*not_after)
                ),
            ),
            None,
            Some(Given::Name(holder)),
        ),
        other => (
            text(
                "证书服务通知".to_owned(),
                "Certificate service notice".to_owned(),
            ),
            text(format!("{other:?}"), format!("{other:?}")),
            None,
            None,
        ),
    };
    let given = given.map(|g| g.render(zh)).unwrap_or_default();
    let signature = if zh { SIGNATURE_ZH } else { SIGNATURE_EN };
    Rendered {
        subject,
        body: Zeroizing::new(body + &given + signature),
        attachment,
    }
}

/// The most characters of requester-chosen text a mail repeats.
pub const MAX_GIVEN: usize = 64;

/// Text the requester chose (anyone may apply, so anyone may choose it): never
/// in the subject or the opening lines, only at the end, labelled, quoted, on one
/// line and at most [`MAX_GIVEN`] characters.
enum Given<'a> {
    /// The holder's name as given in the application.
    Name(&'a str),
    /// The server name from the certificate request.
    Server(&'a str),
}

impl Given<'_> {
    fn render(&self, zh: bool) -> String {
        let (label_zh, label_en, value) = match self {
            Self::Name(v) => ("姓名", "Name", *v),
            Self::Server(v) => ("服务器名称", "Server name", *v),
        };
        let value = quoted(value);
        if zh {
            format!("\n\n以下为申请时填写的信息，仅供核对：\n  {label_zh}：「{value}」")
        } else {
            format!(
                "\n\nAs given in the application, for your reference only:\n  {label_en}: \"{value}\""
            )
        }
    }
}

/// `text` on one line: control, invisible and direction-changing characters
/// dropped, cut to [`MAX_GIVEN`] characters (an ellipsis marks the cut).
fn quoted(text: &str) -> String {
    let mut kept = text.chars().filter(|c| {
        !c.is_control()
            && !matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
    });
    let mut out: String = kept.by_ref().take(MAX_GIVEN).collect();
    if kept.next().is_some() {
        out.push('…');
    }
    out
}
