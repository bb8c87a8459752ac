//! The work of one bulk issuance (批量制证): reading the upload (a CSV of holders
//! or PEM certificate requests), refusing repeats within it, issuing each line
//! through the RA, and packing the issued files into a zip.

use std::io::Write;

use topca_core::{
    csr::CertificateRequest,
    ra::{AccountId, FirstLines, Holder, RaOps, parse_holders},
};
use zeroize::Zeroizing;

use crate::{AppError, AppState, i18n::Lang};

/// Most lines (holders or requests) of one upload.
pub(crate) const MAX_LINES: usize = 200;
/// Largest upload body, bytes (the form's whole URL-encoded body).
pub(crate) const MAX_BODY: usize = 1024 * 1024;

/// What an upload holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upload {
    /// `name,email[,phone]` rows; the CA makes each key (PKCS#12).
    Holders,
    /// PEM certificate requests, one after another; the holders keep their keys.
    Requests,
}

/// One line of an upload, ready to issue.
enum Line {
    Holder(Holder),
    Request(Holder, Box<CertificateRequest>),
}

/// What became of one line.
pub(crate) struct Outcome {
    /// The line in the upload, from 1.
    pub(crate) line: usize,
    /// The holder (name and e-mail) or what could be read of the line.
    pub(crate) holder: String,
    /// The serial issued, or why not (in the page's language).
    pub(crate) result: Result<String, String>,
}

/// The files issued: (name in the zip, content).
type Files = Vec<(String, Zeroizing<Vec<u8>>)>;

/// Reads the upload's lines: good ones to issue, bad or repeated ones refused.
fn read(t: Lang, upload: Upload, text: &str) -> (Vec<(usize, Line)>, Vec<Outcome>) {
    let mut refused = Vec::new();
    let mut lines = Vec::new();
    let mut first = FirstLines::default();
    let mut keys = FirstLines::default();
    let read: Vec<(usize, Result<Line, String>)> = match upload {
        Upload::Holders => {
            let (holders, errors) = parse_holders(text);
            for e in errors {
                let reason = if t == Lang::Zh { e.reason_zh } else { e.reason };
                refused.push(Outcome {
                    line: e.line,
                    holder: String::new(),
                    result: Err(reason),
                });
            }
            holders
                .into_iter()
                .map(|(n, h)| (n, Ok(Line::Holder(h))))
                .collect()
        }
        Upload::Requests => pem_requests(text)
            .into_iter()
            .map(|(n, pem)| (n, request_line(t, &pem)))
            .collect(),
    };
    for (number, line) in read {
        let line = match line {
            Ok(line) => line,
            Err(reason) => {
                refused.push(Outcome {
                    line: number,
                    holder: String::new(),
                    result: Err(reason),
                });
                continue;
            }
        };
        let holder = match &line {
            Line::Holder(h) | Line::Request(h, _) => h,
        };
        let repeat = first.repeat(&holder.email, number).or_else(|| match &line {
            Line::Request(_, csr) => keys.repeat(&hex(csr.public_key().spki_der()), number),
            Line::Holder(_) => None,
        });
        if let Some(earlier) = repeat {
            refused.push(Outcome {
                line: number,
                holder: label(holder),
                result: Err(t.f1("ra.bulk.repeat", earlier)),
            });
            continue;
        }
        lines.push((number, line));
    }
    (lines, refused)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn label(holder: &Holder) -> String {
    format!("{} <{}>", holder.name, holder.email)
}

/// The PEM certificate requests of `text`, each with the line its BEGIN is on.
fn pem_requests(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with("-----BEGIN") {
            current = Some((index + 1, String::new()));
        }
        if let Some((_, pem)) = current.as_mut() {
            pem.push_str(trimmed);
            pem.push('\n');
        }
        if trimmed.starts_with("-----END") {
            found.extend(current.take());
        }
    }
    // A request whose END never came is read as it is (and refused as unreadable).
    found.extend(current);
    found
}

/// The holder a request names (its CN and e-mail) and the request.
fn request_line(t: Lang, pem: &str) -> Result<Line, String> {
    let csr = CertificateRequest::parse(pem.as_bytes()).map_err(|e| {
        let e = topca_core::Error::from(e);
        if t == Lang::Zh {
            e.message_zh()
        } else {
            e.to_string()
        }
    })?;
    let name = csr.subject().common_name.clone().unwrap_or_default();
    let email = csr.email().map(str::to_owned).unwrap_or_default();
    if name.trim().is_empty() || email.trim().is_empty() {
        return Err(t.s("ra.bulk.request_unnamed").to_owned());
    }
    let holder = Holder {
        name,
        email,
        phone: None,
        state: csr.subject().state.clone(),
        locality: csr.subject().locality.clone(),
    };
    Ok(Line::Request(holder, Box::new(csr)))
}

/// The lines of one upload and what became of each, with the issued files.
pub(crate) struct Run {
    /// Every line, in upload order.
    pub(crate) outcomes: Vec<Outcome>,
    /// The zip of the issued files (`None` when nothing was issued).
    pub(crate) zip: Option<Zeroizing<Vec<u8>>>,
}

/// How many lines `text` holds for `upload` (the cap is checked before any work).
pub(crate) fn count(upload: Upload, text: &str) -> usize {
    match upload {
        Upload::Holders => text.lines().filter(|l| !l.trim().is_empty()).count(),
        Upload::Requests => text
            .lines()
            .filter(|l| l.trim().starts_with("-----BEGIN"))
            .count(),
    }
}

/// Issues every good line of `text` for `account` (blocking: key generation,
/// password hashing, signing).
pub(crate) fn run(
    state: &AppState,
    t: Lang,
    ops: &RaOps,
    account: AccountId,
    upload: Upload,
    text: &str,
) -> Result<Run, AppError> {
    let (lines, mut outcomes) = read(t, upload, text);
    let ra = state.ra();
    let mut files: Files = Vec::new();
    for (number, line) in lines {
        let (holder, issued) = match line {
            Line::Holder(holder) => {
                let shown = label(&holder);
                let issued = ra
                    .issue_bulk_with_generated_key(ops, account, holder)
                    .map(|d| {
                        let serial = d.certificate.serial_hex();
                        files.push((format!("{number:04}-{serial}.p12"), d.pkcs12));
                        d.certificate
                    });
                (shown, issued)
            }
            Line::Request(holder, csr) => {
                let shown = label(&holder);
                let issued = ra
                    .issue_bulk_for_key(ops, account, holder, csr.public_key())
                    .map(|r| r.certificate);
                (shown, issued)
            }
        };
        let result = match issued {
            Ok(certificate) => {
                let serial = certificate.serial_hex();
                files.push((
                    format!("{number:04}-{serial}.pem"),
                    Zeroizing::new(certificate.to_pem().into_bytes()),
                ));
                files.push((
                    format!("{number:04}-{serial}.cer"),
                    Zeroizing::new(certificate.der().to_vec()),
                ));
                Ok(serial)
            }
            Err(topca_core::Error::Ra(topca_core::RaError::UnknownAccount)) => {
                return Err(topca_core::Error::from(topca_core::RaError::UnknownAccount).into());
            }
            Err(e) => Err(if t == Lang::Zh {
                e.message_zh()
            } else {
                e.to_string()
            }),
        };
        outcomes.push(Outcome {
            line: number,
            holder,
            result,
        });
    }
    outcomes.sort_by_key(|o| o.line);
    let zip = if files.is_empty() {
        None
    } else {
        files.push((
            "chain.pem".to_owned(),
            Zeroizing::new(state.ca.chain_pem().into_bytes()),
        ));
        Some(pack(&files)?)
    };
    Ok(Run { outcomes, zip })
}

/// A zip of `files`, stored (certificates and PKCS#12 files do not compress).
fn pack(files: &Files) -> Result<Zeroizing<Vec<u8>>, AppError> {
    let failed = |e: &dyn std::fmt::Display| AppError::internal_because("write the zip", e);
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, content) in files {
        writer
            .start_file(name.as_str(), options)
            .map_err(|e| failed(&e))?;
        writer.write_all(content).map_err(|e| failed(&e))?;
    }
    let cursor = writer.finish().map_err(|e| failed(&e))?;
    Ok(Zeroizing::new(cursor.into_inner()))
}
