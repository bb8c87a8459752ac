//! A minimal DNS client for dns-01 (RFC 8555 §8.4): one recursive TXT query
//! over UDP to the configured resolver (`TOPCA_ACME_DNS_RESOLVER`, else the
//! first `nameserver` of `/etc/resolv.conf`), its answer checked (the query's
//! id and question) and its TXT records read, following the resolver's CNAME
//! answers as they come. A truncated UDP answer (many or long TXT records) is
//! asked again over TCP (RFC 7766 §5), each message after its two-byte length.

use std::net::SocketAddr;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, UdpSocket},
};

/// The record type TXT.
const TXT: u16 = 16;
/// The class IN.
const IN: u16 = 1;
/// The largest answer read over UDP.
const MAX_ANSWER: usize = 4096;
/// The TC (truncated) bit of the header's flags.
const TRUNCATED: u16 = 0x0200;

/// The resolver: `configured`, else the first nameserver of `/etc/resolv.conf`.
pub(super) fn resolver(configured: Option<SocketAddr>) -> Result<SocketAddr, String> {
    if let Some(address) = configured {
        return Ok(address);
    }
    let conf = std::fs::read_to_string("/etc/resolv.conf")
        .map_err(|e| format!("no DNS resolver configured and /etc/resolv.conf: {e}"))?;
    conf.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .next()
        .ok_or_else(|| "no DNS resolver configured nor in /etc/resolv.conf".to_owned())
}

/// The TXT records of `name` (each record's strings joined), as `resolver`
/// answers; none when the name does not exist.
pub(super) async fn txt(resolver: SocketAddr, name: &str, id: u16) -> Result<Vec<String>, String> {
    let query = query(name, id)?;
    let local: SocketAddr = if resolver.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("DNS: {e}"))?;
    socket
        .connect(resolver)
        .await
        .map_err(|e| format!("DNS resolver {resolver}: {e}"))?;
    socket
        .send(&query)
        .await
        .map_err(|e| format!("DNS resolver {resolver}: {e}"))?;
    let mut buffer = vec![0u8; MAX_ANSWER];
    loop {
        let n = socket
            .recv(&mut buffer)
            .await
            .map_err(|e| format!("DNS resolver {resolver}: {e}"))?;
        // Answers to other queries (or forged ones) are skipped.
        if let Some(answer) = buffer
            .get(..n)
            .filter(|a| a.get(..2) == Some(&id.to_be_bytes()))
        {
            if is_truncated(answer) {
                return parse(&over_tcp(resolver, &query).await?, &query);
            }
            return parse(answer, &query);
        }
    }
}

/// Whether `answer` has the TC bit: the resolver had more than fits in UDP.
fn is_truncated(answer: &[u8]) -> bool {
    answer
        .get(2..4)
        .is_some_and(|f| u16::from_be_bytes([f[0], f[1]]) & TRUNCATED != 0)
}

/// Asks `query` of `resolver` over TCP: the answer (whose id must be the
/// query's; at most 65,535 bytes, as its length prefix allows).
async fn over_tcp(resolver: SocketAddr, query: &[u8]) -> Result<Vec<u8>, String> {
    let failed = |e: std::io::Error| format!("DNS resolver {resolver} over TCP: {e}");
    let mut stream = TcpStream::connect(resolver).await.map_err(failed)?;
    let length = u16::try_from(query.len()).map_err(|_| "the DNS query is too long".to_owned())?;
    let mut message = length.to_be_bytes().to_vec();
    message.extend_from_slice(query);
    stream.write_all(&message).await.map_err(failed)?;
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).await.map_err(failed)?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut answer).await.map_err(failed)?;
    if answer.get(..2) != query.get(..2) {
        return Err(format!(
            "DNS resolver {resolver} over TCP answered another query"
        ));
    }
    Ok(answer)
}

/// A recursive query for the TXT records of `name`.
fn query(name: &str, id: u16) -> Result<Vec<u8>, String> {
    let name = name.trim_end_matches('.');
    if name.is_empty() || name.len() > 253 {
        return Err(format!("{name:?} is not a DNS name"));
    }
    let mut out = Vec::with_capacity(name.len() + 18);
    out.extend(id.to_be_bytes());
    out.extend([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        let length = u8::try_from(label.len())
            .ok()
            .filter(|l| (1..=63).contains(l))
            .ok_or_else(|| format!("{name:?} is not a DNS name"))?;
        out.push(length);
        out.extend(label.as_bytes());
    }
    out.push(0);
    out.extend(TXT.to_be_bytes());
    out.extend(IN.to_be_bytes());
    Ok(out)
}

/// Reads `bytes` from `at` on.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| "the DNS answer is cut short".to_owned())?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Skips a (possibly compressed) name.
    fn skip_name(&mut self) -> Result<(), String> {
        loop {
            let length = self.take(1)?[0];
            match length {
                0 => return Ok(()),
                l if l & 0xC0 == 0xC0 => {
                    self.take(1)?;
                    return Ok(());
                }
                l if l & 0xC0 == 0 => {
                    self.take(usize::from(l))?;
                }
                _ => return Err("the DNS answer has a bad name".to_owned()),
            }
        }
    }
}

/// The TXT records of `answer` to `query`.
fn parse(answer: &[u8], query: &[u8]) -> Result<Vec<String>, String> {
    let mut r = Reader {
        bytes: answer,
        at: 0,
    };
    let header = r.take(12)?;
    let flags = u16::from_be_bytes([header[2], header[3]]);
    let questions = u16::from_be_bytes([header[4], header[5]]);
    let answers = u16::from_be_bytes([header[6], header[7]]);
    if flags & 0x8000 == 0 {
        return Err("the DNS resolver sent a query, not an answer".to_owned());
    }
    if flags & TRUNCATED != 0 {
        return Err("the DNS answer is truncated even over TCP".to_owned());
    }
    match flags & 0x000F {
        0 => {}
        3 => return Ok(Vec::new()),
        code => return Err(format!("the DNS resolver answered with error code {code}")),
    }
    // The question must be ours (12 bytes of header, then the question).
    if questions != 1 || answer.get(12..query.len()) != query.get(12..) {
        return Err("the DNS answer is not for the question asked".to_owned());
    }
    r.at = query.len();
    let mut records = Vec::new();
    for _ in 0..answers {
        r.skip_name()?;
        let kind = r.u16()?;
        let class = r.u16()?;
        r.take(4)?;
        let length = usize::from(r.u16()?);
        let data = r.take(length)?;
        if kind != TXT || class != IN {
            continue;
        }
        let mut text = Vec::new();
        let mut d = Reader { bytes: data, at: 0 };
        while d.at < data.len() {
            let n = usize::from(d.take(1)?[0]);
            text.extend_from_slice(d.take(n)?);
        }
        records.push(String::from_utf8_lossy(&text).into_owned());
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// An answer to `query` with `records` TXT records (the name compressed).
    fn answer(query: &[u8], flags: u16, records: &[&[&str]]) -> Vec<u8> {
        let mut out = query.to_vec();
        out[2..4].copy_from_slice(&flags.to_be_bytes());
        out[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
        for strings in records {
            let data: Vec<u8> = strings
                .iter()
                .flat_map(|s| std::iter::once(s.len() as u8).chain(s.bytes()))
                .collect();
            out.extend([0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 60]);
            out.extend((data.len() as u16).to_be_bytes());
            out.extend(data);
        }
        out
    }

    #[test]
    fn txt_records_are_read_and_bad_answers_refused() {
        let q = query("_acme-challenge.example.com.", 0x1234).unwrap();
        assert_eq!(&q[..4], &[0x12, 0x34, 0x01, 0x00]);
        let a = answer(&q, 0x8180, &[&["abc", "def"], &["xyz"]]);
        assert_eq!(parse(&a, &q).unwrap(), ["abcdef", "xyz"]);
        assert!(parse(&answer(&q, 0x8183, &[]), &q).unwrap().is_empty());
        assert!(parse(&answer(&q, 0x8182, &[]), &q).is_err(), "SERVFAIL");
        assert!(parse(&answer(&q, 0x8380, &[]), &q).is_err(), "truncated");
        assert!(parse(&answer(&q, 0x0100, &[]), &q).is_err(), "a query");
        let other = query("_acme-challenge.example.org", 0x1234).unwrap();
        assert!(parse(&answer(&other, 0x8180, &[&["a"]]), &q).is_err());
        let cut = answer(&q, 0x8180, &[&["abc"]]);
        for n in 0..cut.len() - 1 {
            assert!(parse(&cut[..n], &q).is_err(), "cut at {n}");
        }
        assert!(query("a..b", 1).is_err());
        assert!(query(&"a".repeat(64), 1).is_err());
    }
}
