// Builds a PKCS#10 certificate request in the browser: the key pair never leaves
// the page except as the file the user saves. ECDSA P-256 or RSA-2048 with
// SHA-256 through WebCrypto; SM2 with SM3 (default ID) through topca_sm2_web.wasm,
// which returns the key only encrypted with the user's password (PBES2 PKCS#8)
// and opens the KMC's SM2 enveloped key with it.
(() => {
  const bytes = (...parts) => {
    const all = parts.flatMap(p => Array.from(p instanceof Uint8Array ? p : new Uint8Array(p)));
    return new Uint8Array(all);
  };
  const der = (tag, content) => {
    const n = content.length;
    const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
    return bytes([tag], length, content);
  };
  const integer = raw => {
    let i = 0;
    while (i < raw.length - 1 && raw[i] === 0) i++;
    const v = raw.slice(i);
    return der(0x02, v[0] & 0x80 ? bytes([0], v) : v);
  };
  const utf8 = text => new TextEncoder().encode(text);
  const pem = (label, data) => {
    const b64 = btoa(String.fromCharCode(...data)).replace(/(.{64})/g, '$1\n');
    return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
  };
  const OID_CN = [0x06, 0x03, 0x55, 0x04, 0x03];
  const ECDSA_SHA256 = [0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
  const RSA_SHA256 = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00];

  async function makeRequest(kind, commonName) {
    const params = kind === 'rsa'
      ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
      : { name: 'ECDSA', namedCurve: 'P-256' };
    const keys = await crypto.subtle.generateKey(params, true, ['sign', 'verify']);
    const spki = new Uint8Array(await crypto.subtle.exportKey('spki', keys.publicKey));
    const name = der(0x30, der(0x31, der(0x30, bytes(OID_CN, der(0x0c, utf8(commonName))))));
    const info = der(0x30, bytes([0x02, 0x01, 0x00], name, spki, [0xa0, 0x00]));
    const signParams = kind === 'rsa' ? { name: 'RSASSA-PKCS1-v1_5' } : { name: 'ECDSA', hash: 'SHA-256' };
    let signature = new Uint8Array(await crypto.subtle.sign(signParams, keys.privateKey, info));
    if (kind !== 'rsa') {
      // WebCrypto gives r || s; X.509 wants SEQUENCE { INTEGER r, INTEGER s }.
      signature = der(0x30, bytes(integer(signature.slice(0, 32)), integer(signature.slice(32))));
    }
    const csr = der(0x30, bytes(info, kind === 'rsa' ? RSA_SHA256 : ECDSA_SHA256, der(0x03, bytes([0], signature))));
    const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', keys.privateKey));
    return { csr: pem('CERTIFICATE REQUEST', csr), key: pem('PRIVATE KEY', pkcs8) };
  }

  // --- SM2 through WebAssembly -------------------------------------------------
  const WASM = '/TopCA/assets/topca_sm2_web.wasm';
  const KEY_STORE = 'topca-sm2-key';
  let wasm = null;
  const loadWasm = async () => {
    if (!wasm) {
      const { instance } = await WebAssembly.instantiateStreaming(fetch(WASM), {});
      wasm = instance.exports;
    }
    return wasm;
  };
  const frame = fields => {
    const total = fields.reduce((n, f) => n + 4 + f.length, 0);
    const out = new Uint8Array(total);
    const view = new DataView(out.buffer);
    let at = 0;
    for (const f of fields) {
      view.setUint32(at, f.length, true);
      out.set(f, at + 4);
      at += 4 + f.length;
    }
    return out;
  };
  const split = data => {
    const fields = [];
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let at = 0;
    while (at < data.length) {
      const n = view.getUint32(at, true);
      fields.push(data.slice(at + 4, at + 4 + n));
      at += 4 + n;
    }
    return fields;
  };
  // Calls an export with framed input; wipes the WebAssembly buffers afterwards.
  const call = async (name, fields) => {
    const w = await loadWasm();
    const input = frame(fields);
    const at = w.topca_input(input.length);
    new Uint8Array(w.memory.buffer, at, input.length).set(input);
    input.fill(0);
    const code = w[name]();
    try {
      if (code !== 0) throw new Error(message(code));
      const out = new Uint8Array(w.memory.buffer, w.topca_output_ptr(), w.topca_output_len()).slice();
      return split(out);
    } finally {
      w.topca_clear();
    }
  };
  // Sentences in the page's language, handed over by the layout (#script-messages).
  const say = (name, code) => {
    const text = document.getElementById('script-messages')?.dataset[name] || name;
    return text.replace('{0}', code);
  };
  // The crate's error codes (topca-sm2-web/src/error.rs) as sentences.
  const message = code => say({
    3: 'nameUnusable', 4: 'passwordLength', 7: 'keyFilePassword', 8: 'envelopeKey',
  }[code] || 'sm2Failed', code);
  const entropy = () => crypto.getRandomValues(new Uint8Array(64));
  const unpem = text => {
    const b64 = text.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    return Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  };

  async function makeSm2Request(commonName, password) {
    if (!password) throw new Error(say('enterPassword'));
    const [csr, keyFile] = await call('topca_make_request', [entropy(), utf8(commonName), utf8(password)]);
    const key = pem('ENCRYPTED PRIVATE KEY', keyFile);
    // The encrypted file stays with this tab so the result page can open an envelope.
    sessionStorage.setItem(KEY_STORE, key);
    return { csr: pem('CERTIFICATE REQUEST', csr), key };
  }

  // A request made on the renewal page, waiting for the mailed PIN.
  const RENEWAL_REQUEST = 'topca-renewal-request';
  const retrieval = document.querySelector('form[action="/TopCA/userEnroll/retrieve"]');
  const waiting = localStorage.getItem(RENEWAL_REQUEST);
  if (retrieval && waiting) {
    const field = document.getElementById('csr');
    if (field && !field.value) field.value = waiting;
  }
  // Issued: the request has served.
  if (waiting && document.getElementById('issued')) localStorage.removeItem(RENEWAL_REQUEST);

  const button = document.getElementById('generate-key');
  if (button) {
    button.addEventListener('click', async () => {
      button.disabled = true;
      document.getElementById('key-error').textContent = '';
      try {
        const kind = document.getElementById('key-kind').value;
        const password = document.getElementById('key-password');
        const { csr, key } = kind === 'sm2'
          ? await makeSm2Request('TopCA browser key', password ? password.value : '')
          : await makeRequest(kind, 'TopCA browser key');
        const target = document.getElementById('csr');
        target.value = csr;
        // The renewal page keeps the request for the retrieval page of this browser.
        if (target.dataset.keepRequest) localStorage.setItem(RENEWAL_REQUEST, csr);
        const link = document.getElementById('key-download');
        link.download = kind === 'sm2' ? 'topca-sm2-key.p8.pem' : 'topca-private-key.pem';
        link.href = URL.createObjectURL(new Blob([key], { type: 'application/x-pem-file' }));
        link.hidden = false;
      } catch (e) {
        document.getElementById('key-error').textContent = String(e);
      } finally {
        button.disabled = false;
      }
    });
  }

  const opener = document.getElementById('envelope-opener');
  const open = document.getElementById('open-envelope');
  if (opener && open) {
    open.addEventListener('click', async () => {
      open.disabled = true;
      document.getElementById('envelope-error').textContent = '';
      try {
        const picked = document.getElementById('signing-key-file').files[0];
        const keyPem = picked ? await picked.text() : sessionStorage.getItem(KEY_STORE);
        if (!keyPem) throw new Error(say('chooseSigningKey'));
        const password = document.getElementById('envelope-password').value;
        const envelope = Uint8Array.from(atob(opener.dataset.envelope), c => c.charCodeAt(0));
        const [file] = await call('topca_open_envelope', [entropy(), unpem(keyPem), utf8(password), envelope]);
        const link = document.getElementById('encryption-key-download');
        link.href = URL.createObjectURL(new Blob([pem('ENCRYPTED PRIVATE KEY', file)], { type: 'application/x-pem-file' }));
        link.hidden = false;
        sessionStorage.removeItem(KEY_STORE);
      } catch (e) {
        document.getElementById('envelope-error').textContent = String(e);
      } finally {
        open.disabled = false;
      }
    });
  }
})();
