//! 256-bit integers as four little-endian 64-bit limbs: carries, borrows,
//! masks and a generic Montgomery multiplication.
//!
//! Everything here is branch-free on the values: a condition becomes a mask
//! of all zeros or all ones and selection is done with `&`, `|` and `^`.
//! These helpers are `const fn` so the field and scalar constants (curve
//! coefficient, generator, Montgomery `R²`) are computed by the compiler.

/// Four 64-bit limbs, least significant first.
pub(crate) type Limbs = [u64; 4];

/// `a + b + carry`, returning (sum, carry out) with carry in {0, 1}.
#[inline(always)]
pub(crate) const fn adc(a: u64, b: u64, carry: u64) -> (u64, u64) {
    let t = (a as u128) + (b as u128) + (carry as u128);
    (t as u64, (t >> 64) as u64)
}

/// `a + b + carry` with the carry as a flag (the pattern LLVM compiles to `adc`).
#[inline(always)]
pub(crate) const fn add_carry(a: u64, b: u64, carry: bool) -> (u64, bool) {
    let (s, c1) = a.overflowing_add(b);
    let (s, c2) = s.overflowing_add(carry as u64);
    (s, c1 | c2)
}

/// `a − b − borrow` with the borrow as a flag (compiled to `sbb`).
#[inline(always)]
pub(crate) const fn sub_borrow(a: u64, b: u64, borrow: bool) -> (u64, bool) {
    let (d, b1) = a.overflowing_sub(b);
    let (d, b2) = d.overflowing_sub(borrow as u64);
    (d, b1 | b2)
}

/// `acc + a * b + carry`, returning (low, high); never overflows.
#[inline(always)]
pub(crate) const fn mac(acc: u64, a: u64, b: u64, carry: u64) -> (u64, u64) {
    let t = (acc as u128) + (a as u128) * (b as u128) + (carry as u128);
    (t as u64, (t >> 64) as u64)
}

/// `a · b` for one limb `a`, as five limbs: the four products first, then
/// one add-with-carry chain joining their halves (fewer instructions than
/// carrying each product into the next with [`mac`]).
#[inline(always)]
pub(crate) const fn mul_row(a: u64, b: &Limbs) -> [u64; 5] {
    let (l0, h0) = mul64(a, b[0]);
    let (l1, h1) = mul64(a, b[1]);
    let (l2, h2) = mul64(a, b[2]);
    let (l3, h3) = mul64(a, b[3]);
    let (r1, c) = add_carry(l1, h0, false);
    let (r2, c) = add_carry(l2, h1, c);
    let (r3, c) = add_carry(l3, h2, c);
    // The high half of a product is at most 2⁶⁴ − 2: no carry out.
    let (r4, _) = add_carry(h3, 0, c);
    [l0, r1, r2, r3, r4]
}

/// Adds two 256-bit numbers, returning the sum and the carry bit.
#[inline(always)]
pub(crate) const fn add(a: &Limbs, b: &Limbs) -> (Limbs, u64) {
    let (r0, c) = add_carry(a[0], b[0], false);
    let (r1, c) = add_carry(a[1], b[1], c);
    let (r2, c) = add_carry(a[2], b[2], c);
    let (r3, c) = add_carry(a[3], b[3], c);
    ([r0, r1, r2, r3], c as u64)
}

/// Subtracts two 256-bit numbers, returning the difference and the borrow bit.
#[inline(always)]
pub(crate) const fn sub(a: &Limbs, b: &Limbs) -> (Limbs, u64) {
    let (r0, w) = sub_borrow(a[0], b[0], false);
    let (r1, w) = sub_borrow(a[1], b[1], w);
    let (r2, w) = sub_borrow(a[2], b[2], w);
    let (r3, w) = sub_borrow(a[3], b[3], w);
    ([r0, r1, r2, r3], w as u64)
}

/// `mask ? b : a` for a mask of all zeros or all ones.
#[inline(always)]
pub(crate) const fn select(a: &Limbs, b: &Limbs, mask: u64) -> Limbs {
    [
        a[0] ^ ((a[0] ^ b[0]) & mask),
        a[1] ^ ((a[1] ^ b[1]) & mask),
        a[2] ^ ((a[2] ^ b[2]) & mask),
        a[3] ^ ((a[3] ^ b[3]) & mask),
    ]
}

/// All ones if `x == 0`, else zero.
#[inline(always)]
pub(crate) const fn is_zero_mask(x: u64) -> u64 {
    // The top bit of `x | -x` is set exactly when x != 0.
    ((x | x.wrapping_neg()) >> 63).wrapping_sub(1)
}

/// All ones if every limb is zero, else zero.
#[inline(always)]
pub(crate) const fn limbs_zero_mask(a: &Limbs) -> u64 {
    is_zero_mask(a[0] | a[1] | a[2] | a[3])
}

/// All ones if `a == b`, else zero.
#[inline(always)]
pub(crate) const fn eq_mask(a: &Limbs, b: &Limbs) -> u64 {
    is_zero_mask((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]))
}

/// Reduces `a + carry·2²⁵⁶` (known to be below `2m`) into `[0, m)`.
///
/// `m` is passed through `black_box`: with the constant modulus in view,
/// LLVM split the subtraction into per-limb comparisons and flag juggling
/// (about twice the instructions of one `sub`/`sbb` chain on loaded limbs).
#[inline(always)]
pub(crate) const fn sub_if_above(a: &Limbs, carry: u64, m: &Limbs) -> Limbs {
    let (d, borrow) = sub(a, core::hint::black_box(m));
    // The 257-bit value (carry, a) minus m went negative exactly when the
    // carry cannot pay the borrow: then `a` itself is kept.
    let (_, keep_a) = sub_borrow(carry, 0, borrow == 1);
    select(&d, a, 0u64.wrapping_sub(keep_a as u64))
}

/// `(a + b) mod m` for `a, b < m`.
#[inline(always)]
pub(crate) const fn add_mod(a: &Limbs, b: &Limbs, m: &Limbs) -> Limbs {
    let (s, c) = add(a, b);
    sub_if_above(&s, c, m)
}

/// `(a - b) mod m` for `a, b < m`.
#[inline(always)]
pub(crate) const fn sub_mod(a: &Limbs, b: &Limbs, m: &Limbs) -> Limbs {
    let (d, borrow) = sub(a, b);
    let mask = 0u64.wrapping_sub(borrow);
    let fix = [m[0] & mask, m[1] & mask, m[2] & mask, m[3] & mask];
    add(&d, &fix).0
}

/// Full 512-bit product of two 256-bit numbers.
#[inline(always)]
pub(crate) const fn mul_wide(a: &Limbs, b: &Limbs) -> [u64; 8] {
    let mut r = [0u64; 8];
    let mut i = 0;
    while i < 4 {
        let mut carry = 0;
        let mut j = 0;
        while j < 4 {
            let (lo, hi) = mac(r[i + j], a[i], b[j], carry);
            r[i + j] = lo;
            carry = hi;
            j += 1;
        }
        r[i + 4] = carry;
        i += 1;
    }
    r
}

/// Full 512-bit square of a 256-bit number (10 multiplications instead of 16).
///
/// The off-diagonal products `a[i]·a[j]` (`i < j`) are summed row by row,
/// doubled with one add-with-carry chain, and the diagonal squares added with
/// another; no partial sum can carry out of the limbs it is given, because
/// every one is part of a square below `2⁵¹²`.
#[inline(always)]
pub(crate) const fn square_wide(a: &Limbs) -> [u64; 8] {
    // a[0]·(a[1], a[2], a[3]) at limbs 1..=4.
    let (r1, h1) = mul64(a[0], a[1]);
    let (l2, h2) = mul64(a[0], a[2]);
    let (l3, h3) = mul64(a[0], a[3]);
    let (r2, c) = add_carry(l2, h1, false);
    let (r3, c) = add_carry(l3, h2, c);
    let (r4, _) = add_carry(h3, 0, c);
    // a[1]·(a[2], a[3]) at limbs 3..=5.
    let (l3, h3) = mul64(a[1], a[2]);
    let (l4, h4) = mul64(a[1], a[3]);
    let (s4, c) = add_carry(l4, h3, false);
    let (s5, _) = add_carry(h4, 0, c);
    let (r3, c) = add_carry(r3, l3, false);
    let (r4, c) = add_carry(r4, s4, c);
    let (r5, _) = add_carry(s5, 0, c);
    // a[2]·a[3] at limbs 5..=6.
    let (l5, h5) = mul64(a[2], a[3]);
    let (r5, c) = add_carry(r5, l5, false);
    let (r6, _) = add_carry(h5, 0, c);
    // Doubled.
    let off = [r1, r2, r3, r4, r5, r6];
    let (off, top) = add_chain(&off, &off);
    // Plus the squares a[i]² at limbs 2i..=2i+1.
    let (r0, d1) = mul64(a[0], a[0]);
    let (d2, d3) = mul64(a[1], a[1]);
    let (d4, d5) = mul64(a[2], a[2]);
    let (d6, d7) = mul64(a[3], a[3]);
    let [o1, o2, o3, o4, o5, o6] = off;
    let ([r1, r2, r3, r4, r5, r6, r7], _) = add_chain(
        &[o1, o2, o3, o4, o5, o6, top as u64],
        &[d1, d2, d3, d4, d5, d6, d7],
    );
    [r0, r1, r2, r3, r4, r5, r6, r7]
}

/// `a + b` over `N` limbs, one add-with-carry chain, and the carry out.
#[inline(always)]
const fn add_chain<const N: usize>(a: &[u64; N], b: &[u64; N]) -> ([u64; N], bool) {
    let mut r = [0u64; N];
    let mut c = false;
    let mut i = 0;
    while i < N {
        (r[i], c) = add_carry(a[i], b[i], c);
        i += 1;
    }
    (r, c)
}

/// The 128-bit product `a·b` as (low, high) limbs.
#[inline(always)]
pub(crate) const fn mul64(a: u64, b: u64) -> (u64, u64) {
    let p = (a as u128) * (b as u128);
    (p as u64, (p >> 64) as u64)
}

/// Montgomery reduction `t · 2⁻²⁵⁶ mod m` for `t < m·2²⁵⁶`, with
/// `m_inv = -m⁻¹ mod 2⁶⁴`.
#[inline(always)]
pub(crate) const fn mont_reduce(t: &[u64; 8], m: &Limbs, m_inv: u64) -> Limbs {
    let mut t = *t;
    let mut carry_hi = 0u64;
    let mut i = 0;
    while i < 4 {
        let k = t[i].wrapping_mul(m_inv);
        let (_, c) = mac(t[i], k, m[0], 0);
        let (r1, c) = mac(t[i + 1], k, m[1], c);
        let (r2, c) = mac(t[i + 2], k, m[2], c);
        let (r3, c) = mac(t[i + 3], k, m[3], c);
        let (r4, c2) = adc(t[i + 4], c, carry_hi);
        t[i + 1] = r1;
        t[i + 2] = r2;
        t[i + 3] = r3;
        t[i + 4] = r4;
        carry_hi = c2;
        i += 1;
    }
    sub_if_above(&[t[4], t[5], t[6], t[7]], carry_hi, m)
}

/// Parses 32 big-endian bytes.
#[inline]
pub(crate) const fn from_be_bytes(b: &[u8; 32]) -> Limbs {
    let mut r = [0u64; 4];
    let mut i = 0;
    while i < 4 {
        let mut w = 0u64;
        let mut j = 0;
        while j < 8 {
            w = (w << 8) | b[(3 - i) * 8 + j] as u64;
            j += 1;
        }
        r[i] = w;
        i += 1;
    }
    r
}

/// Writes 32 big-endian bytes.
#[inline]
pub(crate) const fn to_be_bytes(a: &Limbs) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 4 {
        let w = a[3 - i].to_be_bytes();
        let mut j = 0;
        while j < 8 {
            out[i * 8 + j] = w[j];
            j += 1;
        }
        i += 1;
    }
    out
}

/// All ones if `a < m`, else zero.
#[inline(always)]
pub(crate) const fn lt_mask(a: &Limbs, m: &Limbs) -> u64 {
    let (_, borrow) = sub(a, m);
    0u64.wrapping_sub(borrow)
}

/// Parses a big-endian hex string of exactly 64 digits at compile time.
pub(crate) const fn from_hex(s: &str) -> Limbs {
    let b = s.as_bytes();
    let mut r = [0u64; 4];
    let mut i = 0;
    let mut digits = 0;
    while i < b.len() {
        let c = b[i];
        let v = match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        };
        if let Some(v) = v {
            // Shift the 256-bit value left by 4 and add the digit.
            r[3] = (r[3] << 4) | (r[2] >> 60);
            r[2] = (r[2] << 4) | (r[1] >> 60);
            r[1] = (r[1] << 4) | (r[0] >> 60);
            r[0] = (r[0] << 4) | v as u64;
            digits += 1;
        }
        i += 1;
    }
    // A malformed constant is a compile-time error, never a runtime one.
    assert!(digits == 64, "hex constant must have 64 digits");
    r
}
