//! DER encoding of an SM2 signature, `SEQUENCE { INTEGER r, INTEGER s }`
//! (GM/T 0009), written by hand: minimal positive INTEGERs, short-form
//! lengths (the whole encoding is at most 72 bytes). The parser is strict
//! DER and returns an error on anything else; it never panics.

use crate::error::Error;

/// Appends a minimal positive DER INTEGER holding the big-endian `v`.
fn put_integer(out: &mut Vec<u8>, v: &[u8; 32]) {
    let start = v.iter().position(|&b| b != 0).unwrap_or(31);
    let body = &v[start..];
    let pad = body[0] & 0x80 != 0;
    out.push(0x02);
    out.push((body.len() + usize::from(pad)) as u8);
    if pad {
        out.push(0x00);
    }
    out.extend_from_slice(body);
}

/// Encodes `(r, s)` as DER.
pub fn encode(r: &[u8; 32], s: &[u8; 32]) -> Vec<u8> {
    let mut body = Vec::with_capacity(70);
    put_integer(&mut body, r);
    put_integer(&mut body, s);
    let mut out = Vec::with_capacity(body.len() + 2);
    out.push(0x30);
    out.push(body.len() as u8);
    out.extend_from_slice(&body);
    out
}

/// Reads one DER INTEGER from the front of `input`: (value, rest).
fn take_integer(input: &[u8]) -> Result<([u8; 32], &[u8]), Error> {
    let (&tag, rest) = input.split_first().ok_or(Error::MalformedDer)?;
    let (&len, rest) = rest.split_first().ok_or(Error::MalformedDer)?;
    let len = usize::from(len);
    if tag != 0x02 || len == 0 || len > 33 || rest.len() < len {
        return Err(Error::MalformedDer);
    }
    let (body, rest) = rest.split_at(len);
    if body[0] & 0x80 != 0 {
        return Err(Error::MalformedDer); // negative
    }
    if len > 1 && body[0] == 0 && body[1] & 0x80 == 0 {
        return Err(Error::MalformedDer); // not minimal
    }
    let body = if body[0] == 0 && len > 1 {
        &body[1..]
    } else {
        body
    };
    if body.len() > 32 {
        return Err(Error::MalformedDer);
    }
    let mut v = [0u8; 32];
    v[32 - body.len()..].copy_from_slice(body);
    Ok((v, rest))
}

/// Parses a DER signature into big-endian `(r, s)`. Range checks
/// (`1 ≤ r, s < n`) are left to verification.
pub fn decode(der: &[u8]) -> Result<([u8; 32], [u8; 32]), Error> {
    let (&tag, rest) = der.split_first().ok_or(Error::MalformedDer)?;
    let (&len, rest) = rest.split_first().ok_or(Error::MalformedDer)?;
    if tag != 0x30 || len >= 0x80 || usize::from(len) != rest.len() {
        return Err(Error::MalformedDer);
    }
    let (r, rest) = take_integer(rest)?;
    let (s, rest) = take_integer(rest)?;
    if !rest.is_empty() {
        return Err(Error::MalformedDer);
    }
    Ok((r, s))
}
