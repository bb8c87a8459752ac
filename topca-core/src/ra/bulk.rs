//! Holder lists for bulk pre-registration: CSV (RFC 4180 quoting, UTF-8 with or
//! without a byte-order mark), one holder per row: `name,email[,phone]`.

use super::request::Holder;

/// One row that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Line number in the file, from 1.
    pub line: usize,
    /// What is wrong, in words.
    pub reason: String,
    /// The same in Chinese.
    pub reason_zh: String,
}

impl RowError {
    /// Line `line` refused with `error`.
    pub fn from_error(line: usize, error: &crate::Error) -> Self {
        Self {
            line,
            reason: error.to_string(),
            reason_zh: error.message_zh(),
        }
    }

    /// Line `line` names the holder (or key) of line `first` again.
    pub fn duplicate(line: usize, first: usize) -> Self {
        Self {
            line,
            reason: format!("the same holder as line {first}; not registered twice"),
            reason_zh: format!("与第 {first} 行的持有者相同，不重复登记"),
        }
    }

    fn unreadable(line: usize, reason: String, reason_zh: String) -> Self {
        Self {
            line,
            reason,
            reason_zh,
        }
    }
}

/// The first line each identity (an e-mail address, compared without case, or a
/// public key) appeared on in one upload.
#[derive(Debug, Default)]
pub struct FirstLines(std::collections::HashMap<String, usize>);

impl FirstLines {
    /// Records `identity` at `line`; the line it was first seen on if it was.
    pub fn repeat(&mut self, identity: &str, line: usize) -> Option<usize> {
        let key = identity.trim().to_lowercase();
        match self.0.get(&key) {
            Some(first) => Some(*first),
            None => {
                self.0.insert(key, line);
                None
            }
        }
    }
}

/// Reads holders from CSV text; a first row starting with `name` or `姓名` is a
/// header. Good rows are returned with their line numbers, bad rows as errors.
pub fn parse_holders(csv: &str) -> (Vec<(usize, Holder)>, Vec<RowError>) {
    let mut holders = Vec::new();
    let mut errors = Vec::new();
    let text = csv.strip_prefix('\u{feff}').unwrap_or(csv);
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields = match split_fields(line) {
            Ok(fields) => fields,
            Err(()) => {
                errors.push(RowError::unreadable(
                    number,
                    "a quoted field is not closed".to_owned(),
                    "引号括起的字段没有结束".to_owned(),
                ));
                continue;
            }
        };
        let first = fields
            .first()
            .map(|f| f.trim().to_lowercase())
            .unwrap_or_default();
        if number == 1 && (first == "name" || first == "姓名") {
            continue;
        }
        match fields.as_slice() {
            [name, email] | [name, email, _] => holders.push((
                number,
                Holder {
                    name: name.clone(),
                    email: email.clone(),
                    phone: fields.get(2).cloned().filter(|p| !p.trim().is_empty()),
                    state: None,
                    locality: None,
                },
            )),
            _ => errors.push(RowError::unreadable(
                number,
                format!(
                    "expected 2 or 3 columns (name, e-mail, telephone), found {}",
                    fields.len()
                ),
                format!(
                    "应有 2 或 3 列（姓名、电子邮件、电话），实际 {} 列",
                    fields.len()
                ),
            )),
        }
    }
    (holders, errors)
}

/// Splits one CSV line; double quotes enclose fields, `""` inside is a quote.
fn split_fields(line: &str) -> Result<Vec<String>, ()> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return Err(());
    }
    fields.push(field);
    Ok(fields.into_iter().map(|f| f.trim().to_owned()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_with_quotes_bom_and_header_and_bad_rows_are_reported() {
        let csv = "\u{feff}姓名,电子邮件,电话\n张三,zhangsan@example.com,010-1234\n\"李, 四\",lisi@example.com\n王五\n\"赵六,zhao@example.com\n\n\"O\"\"Brien\",ob@example.com,\n";
        let (holders, errors) = parse_holders(csv);
        let got: Vec<(usize, &str, &str, Option<&str>)> = holders
            .iter()
            .map(|(n, h)| (*n, h.name.as_str(), h.email.as_str(), h.phone.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (2, "张三", "zhangsan@example.com", Some("010-1234")),
                (3, "李, 四", "lisi@example.com", None),
                (7, "O\"Brien", "ob@example.com", None),
            ]
        );
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [4, 5]);
        assert!(errors[0].reason.contains("found 1"));
        assert!(errors[1].reason.contains("not closed"));
    }
}
