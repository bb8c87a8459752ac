//! The key generator the retrieval, passcode and replacement pages share
//! (renewal hands its new request to the retrieval page with the PIN), and
//! the opener of an SM2 enveloped key on the page that shows it. Both are
//! driven by `assets/csr.js`: P-256 and RSA through WebCrypto, SM2 through
//! `assets/topca_sm2_web.wasm` (the key never leaves the page in clear; the
//! user saves it as a PBES2-encrypted PKCS#8 file).

use topca_core::KeyAlgorithm;

use crate::html::Lang;

/// The generator's fieldset: SM2 first and selected under an SM2 CA.
pub(crate) fn generator(lang: Lang, algorithm: KeyAlgorithm) -> String {
    let sm2 = algorithm == KeyAlgorithm::Sm2;
    let sm2_option = format!(
        r#"<option value="sm2"{}>SM2 (SM3)</option>"#,
        if sm2 { " selected" } else { "" }
    );
    let options = if sm2 {
        format!(
            r#"{sm2_option}<option value="ec">ECDSA P-256</option><option value="rsa">RSA 2048</option>"#
        )
    } else {
        format!(
            r#"<option value="ec">ECDSA P-256</option><option value="rsa">RSA 2048</option>{sm2_option}"#
        )
    };
    format!(
        r#"<fieldset><legend>{legend}</legend>
<select id="key-kind" class="auto">{options}</select>
<p id="sm2-note">{note}</p>
<label for="key-password">{password_l}</label><input id="key-password" type="password" autocomplete="new-password">
<button type="button" id="generate-key">{generate}</button>
<a id="key-download" download="topca-private-key.pem" hidden>{save}</a><span id="key-error" class="error"></span>
</fieldset>"#,
        legend = lang.t("在浏览器中生成密钥对", "Generate the key pair in this browser"),
        note = lang.t(
            "SM2 帐户请选择 SM2：密钥对在本页生成，证书请求以 SM3 签名；私钥只以下面的口令加密（PKCS#8）后保存，不会发送到服务器。",
            "SM2 accounts choose SM2: the key pair is made in this page and the request signed with SM3; the private key is only saved encrypted with the password below (PKCS#8) and never sent to the server."
        ),
        password_l = lang.t("私钥文件口令（SM2）", "Key file password (SM2)"),
        generate = lang.t("生成密钥对和证书请求", "Generate key pair and request"),
        save = lang.t("保存私钥（请妥善保管）", "Save the private key (keep it safe)"),
    )
}

/// Opens the SM2 enveloped encryption key (base64 DER `envelope`) with the
/// signing key made in this browser: the page keeps the encrypted key file
/// for the tab, or the user picks the saved file.
pub(crate) fn envelope_opener(lang: Lang, envelope_b64: &str) -> String {
    format!(
        r#"<fieldset id="envelope-opener" data-envelope="{envelope_b64}"><legend>{legend}</legend>
<label for="signing-key-file">{file_l}</label><input id="signing-key-file" type="file" accept=".pem,.p8,.key">
<label for="envelope-password">{password_l}</label><input id="envelope-password" type="password" autocomplete="current-password">
<button type="button" id="open-envelope">{open}</button>
<a id="encryption-key-download" download="topca-encryption-key.pem" hidden>{save}</a><span id="envelope-error" class="error"></span>
</fieldset><script src="{script}" defer></script>"#,
        legend = lang.t(
            "在浏览器中打开加密私钥",
            "Open the encryption key in this browser"
        ),
        file_l = lang.t(
            "签名私钥文件（在本浏览器生成时可不选）",
            "Signing key file (not needed if made in this browser)"
        ),
        password_l = lang.t("私钥文件口令", "Key file password"),
        open = lang.t("打开数字信封", "Open the envelope"),
        save = lang.t(
            "保存加密私钥（PKCS#8，同一口令）",
            "Save the encryption key (PKCS#8, same password)"
        ),
        script = crate::assets::CSR_SCRIPT,
    )
}
