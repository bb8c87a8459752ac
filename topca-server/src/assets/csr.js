// Builds a PKCS#10 certificate request in the browser with WebCrypto: the key pair
// never leaves the page except as the PEM file the user saves. ECDSA P-256 with
// SHA-256, or RSA-2048 with SHA-256 (PKCS#1 v1.5).
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

  const button = document.getElementById('generate-key');
  if (!button) return;
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const kind = document.getElementById('key-kind').value;
      const { csr, key } = await makeRequest(kind, 'TopCA browser key');
      document.getElementById('csr').value = csr;
      const link = document.getElementById('key-download');
      link.href = URL.createObjectURL(new Blob([key], { type: 'application/x-pem-file' }));
      link.hidden = false;
    } catch (e) {
      document.getElementById('key-error').textContent = String(e);
    } finally {
      button.disabled = false;
    }
  });
})();
