//! Unit tests against simple reference code and the standard's example.

use crate::field::{FieldElement, P};
use crate::fixed_base::{
    W, WINDOWS, build_table, mul_base, mul_base_vartime, mul_vartime, odd_digit, odd_form,
};
use crate::limbs::{self, Limbs};
use crate::point::{AffinePoint, JacobianPoint};
use crate::scalar::{N, Scalar};
use crate::{Error, Signature, SigningKey, VerifyingKey, compute_z, der};

fn hex32(s: &str) -> [u8; 32] {
    limbs::to_be_bytes(&limbs::from_hex(s))
}

fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).unwrap();
    b
}

fn random_limbs_below(m: &Limbs) -> Limbs {
    loop {
        let a = limbs::from_be_bytes(&random32());
        if limbs::lt_mask(&a, m) != 0 {
            return a;
        }
    }
}

// ---- reference big-integer arithmetic: bit-serial, written independently ----

/// `a·b mod m` by shift-and-add over the bits of `b`, with 320-bit intermediates.
fn ref_mulmod(a: &Limbs, b: &Limbs, m: &Limbs) -> Limbs {
    fn ge(x: &[u128; 5], m: &[u128; 5]) -> bool {
        for i in (0..5).rev() {
            if x[i] != m[i] {
                return x[i] > m[i];
            }
        }
        true
    }
    fn sub(x: &mut [u128; 5], m: &[u128; 5]) {
        let mut borrow = 0u128;
        for i in 0..5 {
            let t = x[i] as i128 - m[i] as i128 - borrow as i128;
            if t < 0 {
                x[i] = (t + (1i128 << 64)) as u128;
                borrow = 1;
            } else {
                x[i] = t as u128;
                borrow = 0;
            }
        }
    }
    fn add(x: &mut [u128; 5], y: &[u128; 5]) {
        let mut c = 0u128;
        for i in 0..5 {
            let t = x[i] + y[i] + c;
            x[i] = t & 0xffff_ffff_ffff_ffff;
            c = t >> 64;
        }
    }
    let mm = [m[0] as u128, m[1] as u128, m[2] as u128, m[3] as u128, 0];
    let mut acc = [0u128; 5];
    let aa = [a[0] as u128, a[1] as u128, a[2] as u128, a[3] as u128, 0];
    for bit in (0..256).rev() {
        // acc = 2·acc mod m
        let copy = acc;
        add(&mut acc, &copy);
        if ge(&acc, &mm) {
            sub(&mut acc, &mm);
        }
        if (b[bit / 64] >> (bit % 64)) & 1 == 1 {
            add(&mut acc, &aa);
            if ge(&acc, &mm) {
                sub(&mut acc, &mm);
            }
        }
    }
    [acc[0] as u64, acc[1] as u64, acc[2] as u64, acc[3] as u64]
}

fn fe(a: &Limbs) -> FieldElement {
    FieldElement::from_canonical(a)
}

fn edge_values(m: &Limbs) -> Vec<Limbs> {
    let (m1, _) = limbs::sub(m, &[1, 0, 0, 0]);
    let (m2, _) = limbs::sub(m, &[2, 0, 0, 0]);
    vec![
        [0; 4],
        [1, 0, 0, 0],
        [2, 0, 0, 0],
        m1,
        m2,
        [u64::MAX, 0, 0, 0],
        [0, 0, 0, 1 << 63],
    ]
}

#[test]
fn field_ops_match_reference() {
    let mut vals = edge_values(&P);
    for _ in 0..200 {
        vals.push(random_limbs_below(&P));
    }
    let one = [1, 0, 0, 0];
    for a in &vals {
        for b in vals.iter().take(12) {
            let (fa, fb) = (fe(a), fe(b));
            assert_eq!(fa.mul(&fb).to_canonical(), ref_mulmod(a, b, &P));
            // a + b and a − b checked through the reference: (a + b)·1.
            let sum = fa.add(&fb).to_canonical();
            assert_eq!(fe(&sum).sub(&fb).to_canonical(), *a);
            assert_eq!(fa.sub(&fb).add(&fb).to_canonical(), *a);
        }
        let fa = fe(a);
        assert_eq!(fa.square().to_canonical(), ref_mulmod(a, a, &P));
        assert_eq!(fa.neg().add(&fa).to_canonical(), [0; 4]);
        assert_eq!(fa.to_canonical(), *a);
        assert_eq!(FieldElement::from_bytes(&fa.to_bytes()).unwrap(), fa);
        let inv = fa.invert();
        assert_eq!(inv, fa.invert_fermat());
        if *a == [0; 4] {
            assert_eq!(inv.to_canonical(), [0; 4]);
        } else {
            assert_eq!(ref_mulmod(&inv.to_canonical(), a, &P), one);
        }
    }
    // p − 1 squared is 1; (p − 1) + 1 = 0.
    let (pm1, _) = limbs::sub(&P, &one);
    assert_eq!(fe(&pm1).square(), FieldElement::ONE);
    assert_eq!(fe(&pm1).add(&FieldElement::ONE), FieldElement::ZERO);
    // Encodings of p and above are rejected.
    assert!(bool::from(
        FieldElement::from_bytes(&limbs::to_be_bytes(&P)).is_none()
    ));
    assert!(bool::from(FieldElement::from_bytes(&[0xff; 32]).is_none()));
}

/// The Montgomery product on raw limbs (edge values of the representation
/// itself, not of the numbers it stands for): `x·y·2⁻²⁵⁶ mod p`.
#[test]
fn field_montgomery_product_on_raw_limbs() {
    let r_inv = FieldElement([1, 0, 0, 0]).to_canonical();
    let mut vals = edge_values(&P);
    vals.extend([
        [u64::MAX, u64::MAX, u64::MAX, u64::MAX >> 32],
        [
            u64::MAX,
            0xffff_ffff_0000_0000,
            u64::MAX,
            0xffff_fffe_ffff_fffe,
        ],
    ]);
    for _ in 0..100 {
        vals.push(random_limbs_below(&P));
    }
    for x in &vals {
        for y in &vals {
            let want = ref_mulmod(&ref_mulmod(x, y, &P), &r_inv, &P);
            assert_eq!(FieldElement(*x).mul(&FieldElement(*y)).0, want);
        }
        let want = ref_mulmod(&ref_mulmod(x, x, &P), &r_inv, &P);
        assert_eq!(FieldElement(*x).square().0, want);
    }
}

/// safegcd against Fermat on many values, including ones with long runs of
/// equal bits (those take the most divsteps).
#[test]
fn field_inversion_safegcd_matches_fermat() {
    let mut vals = edge_values(&P);
    for i in 0..256 {
        vals.push(limbs::sub(&P, &[1u64 << (i % 64), 0, 0, 0]).0);
        let mut v = [0u64; 4];
        v[i / 64] = 1 << (i % 64);
        vals.push(v);
    }
    for _ in 0..2000 {
        vals.push(random_limbs_below(&P));
    }
    for a in &vals {
        let x = fe(a);
        let inv = x.invert();
        assert_eq!(inv, x.invert_fermat(), "{a:x?}");
        if *a != [0; 4] {
            assert_eq!(inv.mul(&x), FieldElement::ONE);
        }
    }
}

#[test]
fn scalar_ops_match_reference() {
    let mut vals = edge_values(&N);
    for _ in 0..100 {
        vals.push(random_limbs_below(&N));
    }
    let one = [1, 0, 0, 0];
    for a in &vals {
        let sa = Scalar::from_bytes(&limbs::to_be_bytes(a)).unwrap();
        assert_eq!(sa.to_canonical(), *a);
        for b in vals.iter().take(10) {
            let sb = Scalar::from_bytes(&limbs::to_be_bytes(b)).unwrap();
            assert_eq!(sa.mul(&sb).to_canonical(), ref_mulmod(a, b, &N));
            assert_eq!(sa.add(&sb).sub(&sb), sa);
        }
        assert_eq!(sa.square().to_canonical(), ref_mulmod(a, a, &N));
        let inv = sa.invert();
        if *a == [0; 4] {
            assert!(bool::from(inv.is_zero()));
        } else {
            assert_eq!(ref_mulmod(&inv.to_canonical(), a, &N), one);
        }
    }
    // n and above are rejected by from_bytes, reduced by reduce_bytes.
    assert!(bool::from(
        Scalar::from_bytes(&limbs::to_be_bytes(&N)).is_none()
    ));
    assert!(bool::from(
        Scalar::reduce_bytes(&limbs::to_be_bytes(&N)).is_zero()
    ));
    let (nm1, _) = limbs::sub(&N, &one);
    let s = Scalar::from_bytes(&limbs::to_be_bytes(&nm1)).unwrap();
    assert_eq!(s.add(&Scalar::ONE), Scalar::ZERO);
    assert_eq!(Scalar::reduce_bytes(&[0xff; 32]).to_canonical(), {
        let (d, _) = limbs::sub(&[u64::MAX; 4], &N);
        d
    });
}

#[test]
fn generator_is_on_curve_and_has_order_n() {
    let g = AffinePoint::GENERATOR;
    assert!(bool::from(g.is_on_curve()));
    let (nm1, _) = limbs::sub(&N, &[1, 0, 0, 0]);
    let nm1 = Scalar::from_bytes(&limbs::to_be_bytes(&nm1)).unwrap();
    // (n − 1)·G = −G.
    assert_eq!(mul_base(&nm1).to_affine().unwrap(), g.neg());
    assert!(bool::from(g.neg().is_on_curve()));
}

/// Plain double-and-add, most significant bit first.
fn double_and_add(k: &Scalar) -> JacobianPoint {
    let kl = k.to_canonical();
    let g = JacobianPoint::from(&AffinePoint::GENERATOR);
    let mut acc = JacobianPoint::IDENTITY;
    for bit in (0..256).rev() {
        acc = acc.double();
        if (kl[bit / 64] >> (bit % 64)) & 1 == 1 {
            acc = acc.add_vartime(&g);
        }
    }
    acc
}

#[test]
fn fixed_base_matches_double_and_add() {
    let mut ks: Vec<Scalar> = (1u8..=70)
        .map(|i| {
            Scalar::reduce_bytes(&{
                let mut b = [0u8; 32];
                b[31] = i;
                b
            })
        })
        .collect();
    let (nm1, _) = limbs::sub(&N, &[1, 0, 0, 0]);
    let (nm2, _) = limbs::sub(&N, &[2, 0, 0, 0]);
    ks.push(Scalar::from_bytes(&limbs::to_be_bytes(&nm1)).unwrap());
    ks.push(Scalar::from_bytes(&limbs::to_be_bytes(&nm2)).unwrap());
    // Values with all-ones and all-zero windows, and powers of two.
    ks.push(Scalar::reduce_bytes(&[0xff; 32]));
    ks.push(Scalar::reduce_bytes(&hex32(
        "80000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
    )));
    ks.push(Scalar::reduce_bytes(&hex32(
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000040",
    )));
    ks.push(Scalar::reduce_bytes(&hex32(
        "FFFFFFFE FFFFFFFF FFFFFFFF FFFFFFFF 00000000 00000000 00000000 00000000",
    )));
    for _ in 0..100 {
        ks.push(Scalar::reduce_bytes(&random32()));
    }
    for k in &ks {
        let a = mul_base(k);
        let b = double_and_add(k);
        assert!(a.eq_vartime(&b), "k = {:x?}", k.to_bytes());
        assert!(mul_base_vartime(k).eq_vartime(&b));
        assert!(bool::from(a.to_affine().unwrap().is_on_curve()));
    }
    assert!(bool::from(mul_base(&Scalar::ZERO).is_identity()));
    assert!(bool::from(mul_base_vartime(&Scalar::ZERO).is_identity()));
}

/// Plain double-and-add of another point than the generator.
fn double_and_add_of(point: &AffinePoint, k: &Scalar) -> JacobianPoint {
    let kl = k.to_canonical();
    let p = JacobianPoint::from(point);
    let mut acc = JacobianPoint::IDENTITY;
    for bit in (0..256).rev() {
        acc = acc.double();
        if (kl[bit / 64] >> (bit % 64)) & 1 == 1 {
            acc = acc.add_vartime(&p);
        }
    }
    acc
}

#[test]
fn a_table_of_any_point_multiplies_as_double_and_add() {
    let key = SigningKey::generate().unwrap();
    let point = *key.verifying_key().as_affine();
    let table = build_table(&point);
    let (nm1, _) = limbs::sub(&N, &[1, 0, 0, 0]);
    let mut ks: Vec<Scalar> = (1u8..=40)
        .map(|i| {
            let mut b = [0u8; 32];
            b[31] = i;
            Scalar::reduce_bytes(&b)
        })
        .collect();
    ks.push(Scalar::from_bytes(&limbs::to_be_bytes(&nm1)).unwrap());
    ks.push(Scalar::reduce_bytes(&[0xff; 32]));
    for _ in 0..60 {
        ks.push(Scalar::reduce_bytes(&random32()));
    }
    for k in &ks {
        let want = double_and_add_of(&point, k);
        assert!(
            mul_vartime(&table, k).eq_vartime(&want),
            "k = {:x?}",
            k.to_bytes()
        );
    }
    assert!(bool::from(mul_vartime(&table, &Scalar::ZERO).is_identity()));
}

#[test]
fn a_key_with_its_full_table_verifies_as_without() {
    for i in 0..30u32 {
        let key = SigningKey::generate().unwrap();
        let plain = key.verifying_key().clone();
        let tabled = plain.clone().with_full_table();
        assert_eq!(tabled, plain);
        let msg = vec![i as u8; i as usize * 5];
        let sig = key.sign(&msg).unwrap();
        tabled.verify_signature(&msg, &sig).unwrap();
        plain.verify_signature(&msg, &sig).unwrap();
        let mut r = *sig.r();
        r[31] ^= 1;
        assert!(tabled.verify(&msg, &r, sig.s()).is_err());
        let mut s = *sig.s();
        s[7] ^= 0x10;
        assert!(tabled.verify(&msg, sig.r(), &s).is_err());
        assert!(tabled.verify(b"another message", sig.r(), sig.s()).is_err());
        // Another key's signature does not verify under this one.
        let other = SigningKey::generate().unwrap().sign(&msg).unwrap();
        assert!(tabled.verify_signature(&msg, &other).is_err());
    }
}

/// The constant-time mixed additions against the variable-time ones,
/// including the equal-point, opposite-point and infinity cases.
#[test]
fn constant_time_mixed_addition_cases() {
    let g = AffinePoint::GENERATOR;
    let g_j = JacobianPoint::from(&g);
    // A Jacobian representation of G with Z ≠ 1.
    let z = FieldElement::from_canonical(&random_limbs_below(&P));
    let z2 = z.square();
    let g_z = JacobianPoint {
        x: g.x.mul(&z2),
        y: g.y.mul(&z2.mul(&z)),
        z,
    };
    let two_g = g_j.double();
    assert!(g_z.add_mixed_complete_ct(&g).eq_vartime(&two_g));
    assert!(g_z.add_mixed_vartime(&g).eq_vartime(&two_g));
    // P = −Q gives infinity.
    assert!(bool::from(g_z.add_mixed_ct(&g.neg()).is_identity()));
    assert!(bool::from(
        g_z.add_mixed_complete_ct(&g.neg()).is_identity()
    ));
    // Infinity plus a point.
    let inf = JacobianPoint::IDENTITY;
    assert!(inf.add_mixed_complete_ct(&g).eq_vartime(&g_j));
    // Generic case.
    let three_g = two_g.add_vartime(&g_j);
    let two_g_aff = two_g.to_affine().unwrap();
    assert!(g_z.add_mixed_ct(&two_g_aff).eq_vartime(&three_g));
    assert!(g_z.add_mixed_complete_ct(&two_g_aff).eq_vartime(&three_g));
    // Masked negation.
    assert!(g_z.negate_if(0).eq_vartime(&g_j));
    assert!(g_z.negate_if(u64::MAX).eq_vartime(&g_j.neg()));
}

/// `Σ dᵢ·2^(W·i)` of the odd recoding, modulo `n`, checking each digit's range.
fn recoded_value(odd: &Limbs) -> Scalar {
    let scalar = |v: u64| Scalar::reduce_limbs(&[v, 0, 0, 0]);
    let (mut sum, mut weight) = (Scalar::ZERO, Scalar::ONE);
    for i in 0..WINDOWS {
        let (negative, index) = odd_digit(odd, i);
        assert!(index < 1 << (W - 1), "digit {i}: index {index}");
        assert!(negative == 0 || negative == u64::MAX);
        let magnitude = scalar(2 * index + 1);
        if i == WINDOWS - 1 {
            assert_eq!(negative, 0, "the last digit is positive");
            assert!(index <= 7, "the last digit is at most 15");
        }
        let digit = if negative != 0 {
            magnitude.neg()
        } else {
            magnitude
        };
        sum = sum.add(&digit.mul(&weight));
        weight = weight.mul(&scalar(1 << W));
    }
    sum
}

#[test]
fn odd_recoding_gives_back_the_scalar() {
    let mut ks: Vec<Limbs> = vec![
        [0; 4],
        [1, 0, 0, 0],
        [2, 0, 0, 0],
        [0x7f, 0, 0, 0],
        [u64::MAX, u64::MAX, u64::MAX, 0],
        limbs::sub(&N, &[1, 0, 0, 0]).0,
        limbs::sub(&N, &[2, 0, 0, 0]).0,
        [0, 0, 0, 1 << 63],
    ];
    ks.extend((0..200).map(|_| random_limbs_below(&N)));
    for k in ks {
        let (odd, negate) = odd_form(&k);
        assert_eq!(odd[0] & 1, 1, "{k:x?}");
        let value = recoded_value(&odd);
        let k = Scalar::reduce_limbs(&k);
        let expected = if negate != 0 { k.neg() } else { k };
        assert_eq!(value, expected, "{k:x?}");
        assert_eq!(
            negate,
            if k.to_canonical()[0] & 1 == 0 {
                u64::MAX
            } else {
                0
            }
        );
    }
}

// ---- GM/T 0003.5 (GB/T 32918.5) annex A signature example, recommended curve ----
//
// The example uses the default identifier "1234567812345678" (the
// "ALICE123@YAHOO.COM" identifier belongs to the GB/T 32918.2 examples on a
// different, test-only curve). The same values appear in OpenSSL's
// `test/sm2_internal_test.c`.

const KAT_ID: &[u8] = b"1234567812345678";
const KAT_D: &str = "3945208F 7B2144B1 3F36E38A C6D39F95 88939369 2860B51A 42FB81EF 4DF7C5B8";
const KAT_K: &str = "59276E27 D506861A 16680F3A D9C02DCC EF3CC1FA 3CDBE4CE 6D54B80D EAC1BC21";
const KAT_XA: &str = "09F9DF31 1E5421A1 50DD7D16 1E4BC5C6 72179FAD 1833FC07 6BB08FF3 56F35020";
const KAT_YA: &str = "CCEA490C E26775A5 2DC6EA71 8CC1AA60 0AED05FB F35E084A 6632F607 2DA9AD13";
const KAT_Z: &str = "B2E14C5C 79C6DF5B 85F4FE7E D8DB7A26 2B9DA7E0 7CCB0EA9 F4747B8C CDA8A4F3";
const KAT_E: &str = "F0B43E94 BA45ACCA ACE692ED 534382EB 17E6AB5A 19CE7B31 F4486FDF C0D28640";
/// Z for the same key with identifier "ALICE123@YAHOO.COM", from a separate
/// big-integer reference computation (not from the standard).
const KAT_Z_ALICE: &str = "26DB4BC1 839BD22E 97E1DAB6 67EC5E0A 730D5E16 521398B4 435C576A 93AFD7ED";
const KAT_R: &str = "F5A03B06 48D2C463 0EEAC513 E1BB81A1 5944DA38 27D5B741 43AC7EAC EEE720B3";
const KAT_S: &str = "B1B6AA29 DF212FD8 763182BC 0D421CA1 BB9038FD 1F7F42D4 840B69C4 85BBC1AA";

#[test]
fn gmt_0003_5_signature_example() {
    let key = SigningKey::from_bytes_with_id(&hex32(KAT_D), KAT_ID).unwrap();
    let pk = key.verifying_key().as_affine();
    assert_eq!(pk.x.to_bytes(), hex32(KAT_XA));
    assert_eq!(pk.y.to_bytes(), hex32(KAT_YA));
    assert_eq!(*key.verifying_key().z(), hex32(KAT_Z));
    assert_eq!(compute_z(KAT_ID, pk).unwrap(), hex32(KAT_Z));
    assert_eq!(
        compute_z(b"ALICE123@YAHOO.COM", pk).unwrap(),
        hex32(KAT_Z_ALICE)
    );
    assert_eq!(key.verifying_key().digest(b"message digest"), hex32(KAT_E));
    // The default-identifier constructor gives the same key and Z.
    let default = SigningKey::from_bytes(&hex32(KAT_D)).unwrap();
    assert_eq!(default.verifying_key(), key.verifying_key());
    let sig = key.sign_with_k(b"message digest", &hex32(KAT_K)).unwrap();
    assert_eq!(*sig.r(), hex32(KAT_R));
    assert_eq!(*sig.s(), hex32(KAT_S));
    let vk = key.verifying_key();
    vk.verify(b"message digest", sig.r(), sig.s()).unwrap();
    assert_eq!(
        vk.verify(b"message digest!", sig.r(), sig.s()),
        Err(Error::BadSignature)
    );
    // The same key under another identifier has a different Z and rejects it.
    let other = VerifyingKey::from_sec1_with_id(&vk.to_sec1(), b"ALICE123@YAHOO.COM").unwrap();
    assert!(other.verify(b"message digest", sig.r(), sig.s()).is_err());
}

#[test]
fn secret_key_range() {
    let one = [1, 0, 0, 0];
    let (nm1, _) = limbs::sub(&N, &one);
    let (nm2, _) = limbs::sub(&N, &[2, 0, 0, 0]);
    assert_eq!(
        SigningKey::from_bytes(&[0; 32]).err(),
        Some(Error::InvalidSecretKey)
    );
    assert_eq!(
        SigningKey::from_bytes(&limbs::to_be_bytes(&nm1)).err(),
        Some(Error::InvalidSecretKey)
    );
    assert_eq!(
        SigningKey::from_bytes(&limbs::to_be_bytes(&N)).err(),
        Some(Error::InvalidSecretKey)
    );
    assert_eq!(
        SigningKey::from_bytes(&[0xff; 32]).err(),
        Some(Error::InvalidSecretKey)
    );
    let k = SigningKey::from_bytes(&limbs::to_be_bytes(&nm2)).unwrap();
    let sig = k.sign(b"edge").unwrap();
    k.verifying_key().verify_signature(b"edge", &sig).unwrap();
    let k = SigningKey::from_bytes(&limbs::to_be_bytes(&one)).unwrap();
    assert_eq!(*k.verifying_key().as_affine(), AffinePoint::GENERATOR);
    assert!(SigningKey::from_bytes_with_id(&[1; 32], &vec![b'a'; 8192]).is_err());
    assert!(SigningKey::from_bytes_with_id(&[1; 32], &vec![b'a'; 8191]).is_ok());
}

#[test]
fn sign_verify_roundtrip_and_tampering() {
    for i in 0..50u32 {
        let key = SigningKey::generate().unwrap();
        let msg = vec![i as u8; i as usize * 7];
        let sig = key.sign(&msg).unwrap();
        let vk = key.verifying_key();
        vk.verify_signature(&msg, &sig).unwrap();
        vk.verify_der(&msg, &sig.to_der()).unwrap();
        let mut bad_msg = msg.clone();
        bad_msg.push(1);
        assert!(vk.verify_signature(&bad_msg, &sig).is_err());
        let mut r = *sig.r();
        r[31] ^= 1;
        assert!(vk.verify(&msg, &r, sig.s()).is_err());
        let mut s = *sig.s();
        s[0] ^= 0x40;
        assert!(vk.verify(&msg, sig.r(), &s).is_err());
        // Hedged signing: two signatures of the same message differ.
        assert_ne!(key.sign(&msg).unwrap(), sig);
        // Deterministic signing is deterministic.
        assert_eq!(
            key.sign_deterministic(&msg).unwrap(),
            key.sign_deterministic(&msg).unwrap()
        );
    }
}

#[test]
fn verify_rejects_out_of_range() {
    let key = SigningKey::from_bytes(&[3; 32]).unwrap();
    let vk = key.verifying_key();
    let sig = key.sign(b"m").unwrap();
    let n = limbs::to_be_bytes(&N);
    assert!(vk.verify(b"m", &[0; 32], sig.s()).is_err());
    assert!(vk.verify(b"m", sig.r(), &[0; 32]).is_err());
    assert!(vk.verify(b"m", &n, sig.s()).is_err());
    assert!(vk.verify(b"m", sig.r(), &n).is_err());
    // r + n (when it fits) must not verify.
    let (rn, c) = limbs::add(&limbs::from_be_bytes(sig.r()), &N);
    if c == 0 {
        assert!(vk.verify(b"m", &limbs::to_be_bytes(&rn), sig.s()).is_err());
    }
    // r + s = n is rejected.
    let s_neg = Scalar::from_bytes(sig.r()).unwrap().neg().to_bytes();
    assert!(vk.verify(b"m", sig.r(), &s_neg).is_err());
}

#[test]
fn der_encoding() {
    let mut small = [0u8; 32];
    small[31] = 0x7f;
    let mut high = [0u8; 32];
    high[0] = 0x80;
    let sig = Signature::from_components(small, high);
    let d = sig.to_der();
    assert_eq!(&d[..5], &[0x30, 3 + 35, 0x02, 0x01, 0x7f]);
    assert_eq!(&d[5..8], &[0x02, 0x21, 0x00]);
    assert_eq!(Signature::from_der(&d).unwrap(), sig);
    let zero = Signature::from_components([0; 32], [0; 32]);
    assert_eq!(zero.to_der(), vec![0x30, 6, 2, 1, 0, 2, 1, 0]);
    assert_eq!(Signature::from_der(&zero.to_der()).unwrap(), zero);
    let bad: &[&[u8]] = &[
        &[],
        &[0x30],
        &[0x30, 0],
        &[0x30, 6, 2, 1, 0, 2, 1],
        &[0x30, 7, 2, 1, 0, 2, 1, 0, 0],
        &[0x30, 6, 2, 1, 0, 2, 1, 0, 0],
        &[0x31, 6, 2, 1, 0, 2, 1, 0],
        &[0x30, 6, 2, 1, 0x80, 2, 1, 0],
        &[0x30, 7, 2, 2, 0, 1, 2, 1, 0],
        &[0x30, 6, 2, 0, 2, 2, 1, 0],
        &[0x30, 0x81, 6, 2, 1, 0, 2, 1, 0],
        &[0x30, 6, 3, 1, 0, 2, 1, 0],
    ];
    for b in bad {
        assert_eq!(Signature::from_der(b), Err(Error::MalformedDer), "{b:x?}");
    }
    // 33-byte integer without the sign pad, and 34-byte integers, are rejected.
    let mut long = vec![0x30, 0x26, 0x02, 0x21];
    long.extend_from_slice(&[0x01; 33]);
    long.extend_from_slice(&[0x02, 0x01, 0x01]);
    assert_eq!(der::decode(&long), Err(Error::MalformedDer));
}

#[test]
fn public_key_encoding() {
    let key = SigningKey::from_bytes(&[9; 32]).unwrap();
    let vk = key.verifying_key();
    let sec1 = vk.to_sec1();
    assert_eq!(VerifyingKey::from_sec1(&sec1).unwrap(), *vk);
    let mut off = sec1;
    off[64] ^= 1;
    assert_eq!(VerifyingKey::from_sec1(&off), Err(Error::InvalidPublicKey));
    assert!(VerifyingKey::from_sec1(&sec1[..64]).is_err());
    let mut big = sec1;
    big[1..33].copy_from_slice(&limbs::to_be_bytes(&P));
    assert!(VerifyingKey::from_sec1(&big).is_err());
    assert_eq!(vk.to_public_key_der().len(), 91);
}
