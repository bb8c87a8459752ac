//! PKCS#11 URIs (RFC 7512) naming a token and a key in it:
//! `pkcs11:token=TopCA;object=issuing-ca?module-path=/usr/lib/softhsm/libsofthsm2.so`.
//!
//! Path attributes read: `token`, `serial`, `object`, `id`, `type` (`private`
//! only). Query attributes read: `module-path` and `pin-source` (a file). A PIN
//! written in the URI (`pin-value`) is refused: URIs end up on command lines and
//! in process lists.

use std::path::PathBuf;

use crate::error::KeyError;

/// A parsed PKCS#11 URI.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Pkcs11Uri {
    /// `token=`: the token label.
    pub token: Option<String>,
    /// `serial=`: the token serial number.
    pub serial: Option<String>,
    /// `object=`: the key label (`CKA_LABEL`).
    pub object: Option<String>,
    /// `id=`: the key identifier (`CKA_ID`), percent-decoded bytes.
    pub id: Option<Vec<u8>>,
    /// `module-path=`: the PKCS#11 library to load.
    pub module_path: Option<PathBuf>,
    /// `pin-source=`: a file holding the user PIN.
    pub pin_source: Option<PathBuf>,
}

fn bad(reason: impl Into<String>) -> KeyError {
    KeyError::Pkcs11Uri(reason.into())
}

/// Decodes `%XX` escapes.
fn percent_decode(value: &str) -> Result<Vec<u8>, KeyError> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad(format!("bad percent escape in \"{value}\"")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
}

fn text(name: &str, value: &str) -> Result<String, KeyError> {
    String::from_utf8(percent_decode(value)?)
        .map_err(|_| bad(format!("the {name} attribute is not UTF-8")))
}

fn set<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), KeyError> {
    if slot.replace(value).is_some() {
        return Err(bad(format!("the {name} attribute is given twice")));
    }
    Ok(())
}

impl Pkcs11Uri {
    /// Parses `text`, which must start with `pkcs11:`.
    pub fn parse(uri: &str) -> Result<Self, KeyError> {
        let rest = uri
            .trim()
            .strip_prefix("pkcs11:")
            .ok_or_else(|| bad("it must start with \"pkcs11:\""))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut uri = Self::default();
        for attribute in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = attribute
                .split_once('=')
                .ok_or_else(|| bad(format!("\"{attribute}\" is not name=value")))?;
            match name {
                "token" => set(&mut uri.token, name, text(name, value)?)?,
                "serial" => set(&mut uri.serial, name, text(name, value)?)?,
                "object" => set(&mut uri.object, name, text(name, value)?)?,
                "id" => set(&mut uri.id, name, percent_decode(value)?)?,
                "type" if value == "private" => {}
                "type" => return Err(bad("only type=private names a signing key")),
                // Informational attributes of the library and token.
                "manufacturer"
                | "model"
                | "library-manufacturer"
                | "library-description"
                | "library-version"
                | "slot-description"
                | "slot-manufacturer" => {}
                other => return Err(bad(format!("unknown path attribute \"{other}\""))),
            }
        }
        for attribute in query.split('&').filter(|a| !a.is_empty()) {
            let (name, value) = attribute
                .split_once('=')
                .ok_or_else(|| bad(format!("\"{attribute}\" is not name=value")))?;
            match name {
                "module-path" => {
                    set(&mut uri.module_path, name, text(name, value)?.into())?;
                }
                "pin-source" => {
                    let value = text(name, value)?;
                    let file = value.strip_prefix("file:").unwrap_or(&value);
                    set(&mut uri.pin_source, name, file.into())?;
                }
                "pin-value" => {
                    return Err(bad(
                        "a PIN in the URI would show on command lines; give it in TOPCA_PKCS11_PIN or a pin-source file",
                    ));
                }
                other => return Err(bad(format!("unknown query attribute \"{other}\""))),
            }
        }
        if uri.token.is_none() && uri.serial.is_none() {
            return Err(bad("name the token with token= (its label) or serial="));
        }
        Ok(uri)
    }

    /// How the key is named, for messages: its label and/or id.
    pub fn key_name(&self) -> String {
        let mut name = String::new();
        if let Some(label) = &self.object {
            name.push_str(&format!("object={label}"));
        }
        if let Some(id) = &self.id {
            if !name.is_empty() {
                name.push(' ');
            }
            name.push_str("id=");
            name.extend(id.iter().map(|b| format!("%{b:02x}")));
        }
        name
    }

    /// The same token with the key named `label` (and no id).
    pub fn with_object(&self, label: &str) -> Self {
        let mut other = self.clone();
        other.object = Some(label.to_owned());
        other.id = None;
        other
    }
}

/// Percent-encodes all but unreserved characters (and `/` in query values).
fn encode(out: &mut std::fmt::Formatter<'_>, value: &[u8], slash: bool) -> std::fmt::Result {
    for &b in value {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (slash && b == b'/') {
            write!(out, "{}", char::from(b))?;
        } else {
            write!(out, "%{b:02X}")?;
        }
    }
    Ok(())
}

impl std::fmt::Display for Pkcs11Uri {
    /// The URI in RFC 7512 form; it holds no PIN.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("pkcs11:")?;
        let mut first = true;
        let path = [
            ("token", self.token.as_deref().map(str::as_bytes)),
            ("serial", self.serial.as_deref().map(str::as_bytes)),
            ("object", self.object.as_deref().map(str::as_bytes)),
            ("id", self.id.as_deref()),
        ];
        for (name, value) in path {
            if let Some(value) = value {
                if !first {
                    f.write_str(";")?;
                }
                first = false;
                write!(f, "{name}=")?;
                encode(f, value, false)?;
            }
        }
        let module = self
            .module_path
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        let pin = self
            .pin_source
            .as_ref()
            .map(|p| format!("file:{}", p.to_string_lossy()));
        let mut separator = "?";
        for (name, value) in [("module-path", module), ("pin-source", pin)] {
            if let Some(value) = value {
                write!(f, "{separator}{name}=")?;
                separator = "&";
                encode(f, value.as_bytes(), true)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_path_and_query_attributes() {
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=Top%20CA;object=issuing;id=%01%a2;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
        )
        .unwrap();
        assert_eq!(uri.token.as_deref(), Some("Top CA"));
        assert_eq!(uri.object.as_deref(), Some("issuing"));
        assert_eq!(uri.id.as_deref(), Some(&[1u8, 0xa2][..]));
        assert_eq!(
            uri.module_path.as_deref(),
            Some(std::path::Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert_eq!(
            uri.pin_source.as_deref(),
            Some(std::path::Path::new("/run/pin"))
        );
        assert_eq!(uri.key_name(), "object=issuing id=%01%a2");
        let again = Pkcs11Uri::parse(&uri.to_string()).unwrap();
        assert_eq!(again, uri);
        assert_eq!(
            uri.to_string(),
            "pkcs11:token=Top%20CA;object=issuing;id=%01%A2?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file%3A/run/pin"
        );
    }

    #[test]
    fn refuses_pins_and_nonsense() {
        for text in [
            "pkcs11:token=a?pin-value=1234",
            "file:token=a",
            "pkcs11:object=a",
            "pkcs11:token=a;token=b",
            "pkcs11:token=a;object=%zz",
            "pkcs11:token=a;colour=red",
            "pkcs11:token=a;type=public",
            "pkcs11:token=a;object",
            "pkcs11:token=a;object=%",
        ] {
            assert!(
                matches!(Pkcs11Uri::parse(text), Err(KeyError::Pkcs11Uri(_))),
                "{text}"
            );
        }
    }
}
