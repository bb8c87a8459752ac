//! The WebAssembly exports: plain C-ABI functions over one input and one
//! output buffer owned by this module (no pointers from the page are
//! dereferenced). The page:
//!
//! 1. calls [`topca_input`] with the input's length and writes the input at
//!    the returned address: fields, each a little-endian `u32` length and its
//!    bytes;
//! 2. calls [`topca_make_request`] (fields: entropy, common name in UTF-8,
//!    password) or [`topca_open_envelope`] (fields: entropy, key file,
//!    password, envelope), which return 0 or an [`Error::code`];
//! 3. reads [`topca_output_len`] bytes at [`topca_output_ptr`]: fields again
//!    (request and key file, or the encryption key file);
//! 4. calls [`topca_clear`], which wipes both buffers.
#![allow(
    unsafe_code,
    reason = "#[unsafe(no_mangle)] names the WebAssembly exports"
)]

use std::cell::RefCell;

use zeroize::Zeroizing;

use crate::error::Error;

/// The largest input accepted (the largest field is an envelope of a few
/// hundred bytes).
const MAX_INPUT: usize = 64 * 1024;

thread_local! {
    static INPUT: RefCell<Zeroizing<Vec<u8>>> = RefCell::new(Zeroizing::new(Vec::new()));
    static OUTPUT: RefCell<Zeroizing<Vec<u8>>> = RefCell::new(Zeroizing::new(Vec::new()));
}

/// Makes the input buffer `len` zero bytes long (at most 64 KiB, else 0
/// bytes) and returns its address for the page to write to.
#[unsafe(no_mangle)]
pub extern "C" fn topca_input(len: u32) -> *mut u8 {
    let len = usize::try_from(len).unwrap_or(0);
    let len = if len > MAX_INPUT { 0 } else { len };
    INPUT.with_borrow_mut(|input| {
        // A new vector, so the old one is wiped on drop rather than moved.
        **input = vec![0; len];
        input.as_mut_ptr()
    })
}

/// The address of the last call's output.
#[unsafe(no_mangle)]
pub extern "C" fn topca_output_ptr() -> *const u8 {
    OUTPUT.with_borrow(|output| output.as_ptr())
}

/// The length of the last call's output.
#[unsafe(no_mangle)]
pub extern "C" fn topca_output_len() -> u32 {
    OUTPUT.with_borrow(|output| u32::try_from(output.len()).unwrap_or(0))
}

/// Wipes the input and output buffers.
#[unsafe(no_mangle)]
pub extern "C" fn topca_clear() {
    INPUT.with_borrow_mut(|input| **input = Vec::new());
    OUTPUT.with_borrow_mut(|output| **output = Vec::new());
}

/// [`crate::make_request`] over the buffers; output fields: the request
/// (DER) and the key file (DER).
#[unsafe(no_mangle)]
pub extern "C" fn topca_make_request() -> u32 {
    run(|fields| {
        let [entropy, name, password] = fields else {
            return Err(Error::Input);
        };
        let name = std::str::from_utf8(name).map_err(|_| Error::Name)?;
        let request = crate::make_request(entropy, name, password)?;
        Ok(frame(&[&request.csr, &request.key_file]))
    })
}

/// [`crate::open_envelope`] over the buffers; output field: the encryption
/// key file (DER).
#[unsafe(no_mangle)]
pub extern "C" fn topca_open_envelope() -> u32 {
    run(|fields| {
        let [entropy, key_file, password, envelope] = fields else {
            return Err(Error::Input);
        };
        let file = crate::open_envelope(entropy, key_file, password, envelope)?;
        Ok(frame(&[&file]))
    })
}

/// Runs `call` on the input's fields; stores its output; 0 or an error code.
fn run(call: impl FnOnce(&[&[u8]]) -> Result<Vec<u8>, Error>) -> u32 {
    let result = INPUT.with_borrow(|input| call(&split(input)?));
    OUTPUT.with_borrow_mut(|output| match result {
        Ok(bytes) => {
            **output = bytes;
            0
        }
        Err(e) => {
            **output = Vec::new();
            e.code()
        }
    })
}

/// Splits length-prefixed fields; the whole input must be consumed.
pub fn split(mut input: &[u8]) -> Result<Vec<&[u8]>, Error> {
    let mut fields = Vec::new();
    while !input.is_empty() {
        let (len, rest) = input.split_first_chunk::<4>().ok_or(Error::Input)?;
        let len = usize::try_from(u32::from_le_bytes(*len)).map_err(|_| Error::Input)?;
        if len > rest.len() || fields.len() == 8 {
            return Err(Error::Input);
        }
        let (field, rest) = rest.split_at(len);
        fields.push(field);
        input = rest;
    }
    Ok(fields)
}

/// Joins fields with their little-endian `u32` lengths.
pub fn frame(fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fields.iter().map(|f| f.len() + 4).sum());
    for field in fields {
        // Fields are request or key DER: far below 4 GiB.
        let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(field);
    }
    out
}

/// Gives `f` the input buffer, as the page's writes reach it.
#[cfg(test)]
pub(crate) fn with_input(f: impl FnOnce(&mut [u8])) {
    INPUT.with_borrow_mut(|input| f(input));
}

/// Gives `f` the output buffer, as the page reads it.
#[cfg(test)]
pub(crate) fn with_output(f: impl FnOnce(&[u8])) {
    OUTPUT.with_borrow(|output| f(output));
}
