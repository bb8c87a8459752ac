//! Object identifiers used by TopCA, in one place (all evaluated at compile time).

use const_oid::ObjectIdentifier as Oid;

/// rsaEncryption (RFC 8017 appendix A.1).
pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
/// sha256WithRSAEncryption (RFC 8017 appendix A.2.4).
pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
/// sha384WithRSAEncryption (RFC 8017 appendix A.2.4).
pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
/// sha512WithRSAEncryption (RFC 8017 appendix A.2.4).
pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
/// id-ecPublicKey (RFC 5480 §2.1.1).
pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
/// secp256r1 / P-256 (RFC 5480 §2.1.1.1).
pub const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
/// secp384r1 / P-384 (RFC 5480 §2.1.1.1).
pub const SECP384R1: Oid = Oid::new_unwrap("1.3.132.0.34");
/// ecdsa-with-SHA256 (RFC 5758 §3.2).
pub const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
/// ecdsa-with-SHA384 (RFC 5758 §3.2).
pub const ECDSA_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
/// ecdsa-with-SHA512 (RFC 5758 §3.2).
pub const ECDSA_WITH_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
/// id-Ed25519 (RFC 8410 §3).
pub const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
/// The SM2 elliptic curve (GM/T 0006 §6, "sm2p256v1").
pub const SM2_CURVE: Oid = Oid::new_unwrap("1.2.156.10197.1.301");
/// SM2 signature with SM3 hash (GM/T 0006 §6, "sm2sign-with-sm3").
pub const SM2_WITH_SM3: Oid = Oid::new_unwrap("1.2.156.10197.1.501");
/// emailAddress attribute (PKCS#9, RFC 2985 §5.2.1).
pub const EMAIL_ADDRESS: Oid = Oid::new_unwrap("1.2.840.113549.1.9.1");
/// extensionRequest attribute (PKCS#9, RFC 2985 §5.4.2).
pub const EXTENSION_REQUEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.14");
/// countryName (X.520, RFC 5280 appendix A).
pub const COUNTRY: Oid = Oid::new_unwrap("2.5.4.6");
/// stateOrProvinceName.
pub const STATE: Oid = Oid::new_unwrap("2.5.4.8");
/// localityName.
pub const LOCALITY: Oid = Oid::new_unwrap("2.5.4.7");
/// organizationName.
pub const ORGANIZATION: Oid = Oid::new_unwrap("2.5.4.10");
/// organizationalUnitName.
pub const ORGANIZATIONAL_UNIT: Oid = Oid::new_unwrap("2.5.4.11");
/// commonName.
pub const COMMON_NAME: Oid = Oid::new_unwrap("2.5.4.3");
/// serialNumber attribute (X.520).
pub const SERIAL_NUMBER_ATTRIBUTE: Oid = Oid::new_unwrap("2.5.4.5");
/// domainComponent (RFC 4519).
pub const DOMAIN_COMPONENT: Oid = Oid::new_unwrap("0.9.2342.19200300.100.1.25");
/// id-ce-subjectAltName (RFC 5280 §4.2.1.6).
pub const SUBJECT_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.17");
/// id-ce-subjectKeyIdentifier (RFC 5280 §4.2.1.2).
pub const SUBJECT_KEY_IDENTIFIER: Oid = Oid::new_unwrap("2.5.29.14");
/// id-ce-keyUsage (RFC 5280 §4.2.1.3).
pub const KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.15");
/// id-ce-basicConstraints (RFC 5280 §4.2.1.9).
pub const BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
/// id-ce-cRLDistributionPoints (RFC 5280 §4.2.1.13).
pub const CRL_DISTRIBUTION_POINTS: Oid = Oid::new_unwrap("2.5.29.31");
/// id-ce-noRevAvail (RFC 9608 §2): no revocation information is available.
pub const NO_REV_AVAIL: Oid = Oid::new_unwrap("2.5.29.56");
/// freshestCRL (delta CRL distribution point).
pub const FRESHEST_CRL: Oid = Oid::new_unwrap("2.5.29.46");
/// id-ce-extKeyUsage (RFC 5280 §4.2.1.12).
pub const EXT_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
/// id-ce-authorityKeyIdentifier (RFC 5280 §4.2.1.1).
pub const AUTHORITY_KEY_IDENTIFIER: Oid = Oid::new_unwrap("2.5.29.35");
/// id-pe-authorityInfoAccess (RFC 5280 §4.2.2.1).
pub const AUTHORITY_INFO_ACCESS: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.1.1");
/// id-ad-ocsp (RFC 5280 §4.2.2.1).
pub const AD_OCSP: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1");
/// id-ad-caIssuers (RFC 5280 §4.2.2.1).
pub const AD_CA_ISSUERS: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.2");
/// id-kp-serverAuth (RFC 5280 §4.2.1.12).
pub const KP_SERVER_AUTH: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.1");
/// id-kp-clientAuth.
pub const KP_CLIENT_AUTH: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.2");
/// id-kp-emailProtection.
pub const KP_EMAIL_PROTECTION: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.4");
/// id-ce-certificatePolicies (RFC 5280 §4.2.1.4).
pub const CERTIFICATE_POLICIES: Oid = Oid::new_unwrap("2.5.29.32");
/// id-kp-codeSigning.
pub const KP_CODE_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.3");
/// id-kp-timeStamping.
pub const KP_TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");
/// id-kp-OCSPSigning.
pub const KP_OCSP_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.9");
/// id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1).
pub const OCSP_NO_CHECK: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.5");
/// id-pkix-ocsp-basic.
pub const OCSP_BASIC: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// id-pkix-ocsp-nonce.
pub const OCSP_NONCE: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.2");
/// SHA-1 (OCSP CertIDs made by OpenSSL use it).
pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
/// SHA-256.
pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
