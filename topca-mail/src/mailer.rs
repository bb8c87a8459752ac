//! The lettre mailer.

use lettre::{
    Message, SmtpTransport, Transport as _,
    message::{Attachment, Mailbox, MultiPart, SinglePart, header::ContentType},
};
use topca_core::{
    MailError,
    mail::{Envelope, Mailer},
};

use crate::{
    config::{MailConfig, SetupError, Transport, mask_password},
    outbox::Outbox,
    render::render,
};

/// Sends the centres' mail over SMTP or into a file outbox.
pub struct LettreMailer {
    from: Mailbox,
    sender: Sender,
    /// Where mail goes, password masked, for error messages.
    target: String,
}

enum Sender {
    Smtp(Box<SmtpTransport>),
    Outbox(Outbox),
}

impl LettreMailer {
    /// A mailer for `config`. An outbox directory is created if missing; an SMTP
    /// server is contacted only when mail is sent.
    pub fn new(config: &MailConfig) -> Result<Self, SetupError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| SetupError::From(config.from.clone()))?;
        let (sender, target) = match &config.transport {
            Transport::Outbox(dir) => (
                Sender::Outbox(Outbox::open(dir)?),
                dir.display().to_string(),
            ),
            Transport::Smtp(url) => {
                let roots = config
                    .trusted_ca
                    .as_ref()
                    .map(|path| {
                        std::fs::read(path).map_err(|e| SetupError::Url {
                            url: mask_password(url),
                            problem: format!(
                                "the trusted CA file {} cannot be read: {e}",
                                path.display()
                            ),
                        })
                    })
                    .transpose()?;
                let transport = crate::smtp::transport(url, roots.as_deref())?;
                (Sender::Smtp(Box::new(transport)), mask_password(url))
            }
        };
        Ok(Self {
            from,
            sender,
            target,
        })
    }

    /// The message for `envelope`, as it will be sent.
    pub fn message(&self, envelope: &Envelope) -> Result<Message, MailError> {
        let to: Mailbox = envelope
            .to
            .parse()
            .map_err(|_| MailError::Refused(envelope.to.clone()))?;
        let rendered = render(envelope);
        let text = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(rendered.body.to_string());
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject);
        let built = match rendered.attachment {
            Some((name, mime, content)) => {
                let content_type = ContentType::parse(&mime).unwrap_or(ContentType::TEXT_PLAIN);
                builder.multipart(
                    MultiPart::mixed()
                        .singlepart(text)
                        .singlepart(Attachment::new(name).body(content, content_type)),
                )
            }
            None => builder.singlepart(text),
        };
        built.map_err(|_| MailError::Refused(envelope.to.clone()))
    }
}

impl LettreMailer {
    /// The message for `envelope`, formatted (RFC 5322) to be queued and
    /// delivered later with [`Self::deliver`].
    pub fn format(&self, envelope: &Envelope) -> Result<Vec<u8>, MailError> {
        Ok(self.message(envelope)?.formatted())
    }

    /// Delivers a message made by [`Self::format`] to `to`.
    pub fn deliver(&self, to: &str, message: &[u8]) -> Result<(), MailError> {
        match &self.sender {
            Sender::Outbox(outbox) => outbox.store(message).map(drop),
            Sender::Smtp(transport) => {
                let recipient: lettre::Address =
                    to.parse().map_err(|_| MailError::Refused(to.to_owned()))?;
                let envelope =
                    lettre::address::Envelope::new(Some(self.from.email.clone()), vec![recipient])
                        .map_err(|_| MailError::Refused(to.to_owned()))?;
                transport
                    .send_raw(&envelope, message)
                    .map(drop)
                    .map_err(|e| {
                        if e.is_permanent() {
                            MailError::Refused(to.to_owned())
                        } else {
                            MailError::Unreachable(self.target.clone())
                        }
                    })
            }
        }
    }
}

impl LettreMailer {
    /// Sends a short test message to `to` now, bypassing any queue
    /// (`topca-server mail test`); says where it went: the `.eml` file written,
    /// or the SMTP server (password masked) that accepted it.
    pub fn send_test(&self, to: &str) -> Result<String, MailError> {
        let recipient: Mailbox = to.parse().map_err(|_| MailError::Refused(to.to_owned()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(recipient)
            .subject("TopCA mail test / 邮件测试")
            .singlepart(
                SinglePart::builder().header(ContentType::TEXT_PLAIN).body(
                    "This message checks TopCA's mail transport; nothing needs to be done.\n\
                         这是 TopCA 邮件发送测试，无需处理。\n"
                        .to_owned(),
                ),
            )
            .map_err(|_| MailError::Refused(to.to_owned()))?
            .formatted();
        match &self.sender {
            Sender::Outbox(outbox) => outbox
                .store(&message)
                .map(|path| format!("written to {}", path.display())),
            Sender::Smtp(_) => self
                .deliver(to, &message)
                .map(|()| format!("accepted by {}", self.target)),
        }
    }

    /// Whether mail can leave now: for SMTP a connection to the server that
    /// answers `NOOP` (then closed), for the file outbox a file written to and
    /// removed from its folder. Sends no message.
    pub fn check(&self) -> Result<(), MailError> {
        match &self.sender {
            Sender::Outbox(outbox) => outbox.probe(),
            Sender::Smtp(transport) => match transport.test_connection() {
                Ok(true) => Ok(()),
                Ok(false) | Err(_) => Err(MailError::Unreachable(self.target.clone())),
            },
        }
    }
}

impl Mailer for LettreMailer {
    fn send(&self, envelope: &Envelope) -> Result<(), MailError> {
        let message = self.message(envelope)?;
        match &self.sender {
            Sender::Outbox(outbox) => outbox.store(&message.formatted()).map(drop),
            Sender::Smtp(transport) => transport.send(&message).map(drop).map_err(|e| {
                if e.is_permanent() {
                    MailError::Refused(envelope.to.clone())
                } else {
                    MailError::Unreachable(self.target.clone())
                }
            }),
        }
    }
}

impl std::fmt::Debug for LettreMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LettreMailer({})", self.target)
    }
}
