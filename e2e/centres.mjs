// Walks the TopCA web centres as a new user would, in headless Chromium:
//   single certificate: search the account (Chinese keyword) → apply → PIN from the
//   mail outbox → retrieve with a key pair generated in the browser → query →
//   revoke → the CRL page lists it;
//   dual certificates: apply → retrieve → both serials shown;
//   SM2 keys made in the page (WebAssembly): the saved key file opens with its
//   password in OpenSSL and matches the certificate; for the dual account the page
//   opens the SM2 enveloped key and OpenSSL matches it to the encryption certificate;
//   server certificate: paste a CSR → fields shown → submit appears only once the
//   agreement is ticked → registered → the RA administrator logs in, reviews every
//   name to be signed and approves it;
//   the RA console edits an account, pre-registers from a CSV file and finds
//   certificates; the super administrator issues a CRL on demand.
// Screenshots of both centres' home pages go to $TOPCA_ARTIFACTS.
//
// env: TOPCA_URL, TOPCA_OUTBOX, TOPCA_DECODER (smtp_sink.py), TOPCA_ARTIFACTS,
//      TOPCA_SERVER_CSR (a PEM request made by OpenSSL), TOPCA_ADMIN_PASSWORD (of
//      the administrators "root" (super), "ra-admin", "kmc-a" and "kmc-b", made with
//      `topca-server admin add`), TOPCA_SECRETS_OUT (optional: a file that receives
//      every PIN, password, passcode, code and token used, one per line, so the
//      test can check that none reached the server's log)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from './browser.mjs';

const base = process.env.TOPCA_URL;
const outbox = process.env.TOPCA_OUTBOX;
const artifacts = process.env.TOPCA_ARTIFACTS;
let failures = 0;
const secrets = new Set();

/** Notes `value` as a secret for TOPCA_SECRETS_OUT and returns it. */
function secret(value) {
  secrets.add(String(value));
  return value;
}
secret(process.env.TOPCA_ADMIN_PASSWORD);

const keys = mkdtempSync(join(tmpdir(), 'topca-e2e-keys-'));
const KEY_PASSWORD = '密钥文件 key-pass-1';

/** The public key (PEM) OpenSSL reads from the encrypted key file `file`. */
function keyFilePublic(file) {
  return execFileSync('openssl', ['pkey', '-in', file, '-passin', `pass:${KEY_PASSWORD}`, '-pubout']).toString();
}

/** The public key (PEM) of the certificate `pem`. */
function certificatePublic(pem, name) {
  const file = join(keys, `${name}.crt`);
  writeFileSync(file, pem);
  return execFileSync('openssl', ['x509', '-in', file, '-pubkey', '-noout']).toString();
}

/** Clicks `selector` and saves the download it starts as `name` in the key folder. */
async function download(page, selector, name) {
  const [file] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  const path = join(keys, name);
  await file.saveAs(path);
  return path;
}

function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}

/** The PIN of the newest approval mail for `email`, decoded by Python's email package. */
function mailedPin(email) {
  const files = readdirSync(outbox).filter(f => f.endsWith('.eml')).sort().reverse();
  for (const file of files) {
    const out = execFileSync('python3', [process.env.TOPCA_DECODER, 'decode', join(outbox, file)]).toString();
    const fields = Object.fromEntries(out.trim().split('\n').map(l => {
      const [k, v] = l.split('\t');
      return [k, Buffer.from(v, 'base64').toString('utf8')];
    }));
    if (fields.to.includes(email) && fields.body.includes('PIN')) {
      return secret(fields.body.split('\n').find(l => l.startsWith('    ')).trim());
    }
  }
  throw new Error(`no PIN mail for ${email}`);
}

/** The key recovery authorization code of the newest recovery mail for `email`. */
function mailedRecoveryCode(email) {
  const files = readdirSync(outbox).filter(f => f.endsWith('.eml')).sort().reverse();
  for (const file of files) {
    const out = execFileSync('python3', [process.env.TOPCA_DECODER, 'decode', join(outbox, file)]).toString();
    const fields = Object.fromEntries(out.trim().split('\n').map(l => {
      const [k, v] = l.split('\t');
      return [k, Buffer.from(v, 'base64').toString('utf8')];
    }));
    if (fields.to.includes(email) && fields.body.includes('授权码是')) {
      return secret(fields.body.split('\n').find(l => l.startsWith('    ')).trim());
    }
  }
  throw new Error(`no recovery code mail for ${email}`);
}

async function login(page, centre, keyword, unit) {
  await page.goto(`${base}/TopCA/${centre}`);
  await page.fill('#keyword', keyword);
  await page.click(`#accounts a:has-text("${unit}")`);
  await page.waitForSelector('#functions');
}

/** Calls the JSON API (with the administrator's bearer token when given). */
async function api(method, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${secret(token)}`;
  const response = await fetch(`${base}${path}`, { method, headers, body: body && JSON.stringify(body) });
  const json = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

async function applyAndRetrieve(page, unit, email, approve) {
  await login(page, 'userEnroll', unit === '人工审核部' ? 'E2E' : '演示', unit);
  await page.click('text=申请用户证书');
  await page.fill('#name', '王五');
  await page.fill('#email', email);
  await page.fill('#password', secret('wangwu-password-1'));
  await page.fill('#password2', secret('wangwu-password-1'));
  await page.click('#submit');
  const request = await page.textContent('#request');
  check(/^[0-9a-f]{32}$/.test(request.trim()), `${unit}: application registered as request ${request}`);
  if (approve) await approve(request.trim());
  await page.goBack();
  await page.goBack();
  await page.click('text=获取用户证书');
  await page.fill('#pin', mailedPin(email));
  await page.fill('#password', secret('wangwu-password-1'));
  check(await page.inputValue('#key-kind') === 'sm2', `${unit}: the generator offers SM2 first under an SM2 CA`);
  await page.fill('#key-password', secret(KEY_PASSWORD));
  await page.click('#generate-key');
  await page.waitForFunction(() => document.getElementById('csr').value.includes('BEGIN CERTIFICATE REQUEST'));
  check(await page.isVisible('#key-download'), `${unit}: the browser offers the private key to save`);
  const keyFile = await download(page, '#key-download', `${unit}.key.pem`);
  check(readFileSync(keyFile, 'utf8').startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----'),
    `${unit}: the SM2 key is saved encrypted (PKCS#8)`);
  await page.click('#submit');
  await page.waitForSelector('#serial');
  check(await page.isVisible('#install-openssl'), `${unit}: the result page explains how to install what it delivered`);
  await page.screenshot({ path: join(artifacts, `user-issued-${unit === '人工审核部' ? 'single' : 'dual'}.png`), fullPage: true });
  const certificate = await page.textContent('#certificate');
  check(keyFilePublic(keyFile) === certificatePublic(certificate, unit),
    `${unit}: OpenSSL opens the saved key with its password and it matches the certificate`);
  return (await page.textContent('#serial')).trim();
}

const browser = await launchChromium();
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(20000);

  // Single certificate on an account whose requests an administrator approves,
  // through the API (the RA administrator was made with `topca-server admin add`).
  const { token } = await api('POST', '/api/v1/admin/sessions', { name: 'ra-admin', password: process.env.TOPCA_ADMIN_PASSWORD });
  await api('POST', '/api/v1/admin/accounts', {
    organization: 'E2E 测试单位', unit: '人工审核部', certificate_type: 'single', verification: 'manual',
    algorithm: 'sm2', validity_days: 365, service_url: `${base}/TopCA/userEnroll`, language: 'zh',
  }, token);
  await login(page, 'userEnroll', '演示', '演示部门');
  await page.screenshot({ path: join(artifacts, 'userEnroll-home.png'), fullPage: true });
  const serial = await applyAndRetrieve(page, '人工审核部', 'wangwu@example.cn', async reference => {
    const pending = await api('GET', '/api/v1/admin/requests', undefined, token);
    const mine = pending.find(p => p.reference === reference);
    check(mine !== undefined, 'the application waits for the RA, listed with its reference');
    const decided = await api('POST', `/api/v1/admin/requests/${mine.request}/approve`, undefined, token);
    check(decided.state === 'approved', 'approved through the API');
  });
  check(/^[0-9A-F]{32}$/.test(serial), `certificate issued for a browser key, serial ${serial}`);
  check((await page.textContent('#certificate')).includes('BEGIN CERTIFICATE'), 'the certificate is shown');

  await page.goBack();
  await page.goBack();
  await page.click('text=查询 / 吊销用户证书');
  await page.fill('#email', 'wangwu@example.cn');
  await page.click('button:has-text("查询")');
  const row = page.locator(`#results tr:has-text("${serial}")`);
  check((await row.locator('.status').textContent()) === '有效', 'the query shows it valid');
  await row.locator('a.revoke').click();
  await page.waitForSelector('#revoke-form');
  check((await page.textContent('#serial')).trim() === serial, 'the revocation page shows the certificate picked from the list');
  await page.fill('#password', secret('wangwu-password-1'));
  await page.selectOption('#reason', '1');
  await page.click('#submit');
  check((await page.textContent('#revoked')).includes(serial), 'revoked');
  await page.goto(`${base}/TopCA/crl`);
  check((await page.textContent('#revoked')).includes(serial), 'the CRL page lists it');

  // Dual certificates: both serials.
  const signing = await applyAndRetrieve(page, '双证书部门', 'zhaoliu@example.cn');
  const encryption = (await page.textContent('#encryption-serial')).trim();
  check(/^[0-9A-F]{32}$/.test(signing) && /^[0-9A-F]{32}$/.test(encryption) && signing !== encryption,
    `dual retrieval shows both serials (${signing}, ${encryption})`);
  await page.fill('#envelope-password', KEY_PASSWORD);
  await page.click('#open-envelope');
  await page.waitForSelector('#encryption-key-download:not([hidden])');
  const encryptionKey = await download(page, '#encryption-key-download', 'encryption.key.pem');
  const encryptionPem = await (await fetch(`${base}/TopCA/certificates/${encryption}.pem`)).text();
  check(keyFilePublic(encryptionKey) === certificatePublic(encryptionPem, 'encryption'),
    'the page opens the SM2 enveloped key; OpenSSL matches it to the encryption certificate');

  // Server certificate with the agreement gate.
  await login(page, 'serverEnroll', '服务器', '服务器证书');
  await page.screenshot({ path: join(artifacts, 'serverEnroll-home.png'), fullPage: true });
  await page.click('text=申请服务器证书');
  await page.fill('#csr', readFileSync(process.env.TOPCA_SERVER_CSR, 'utf8'));
  await page.click('#submit');
  check((await page.textContent('#parsed')).includes('www.example.cn'), 'the CSR fields are shown');
  check(!(await page.isVisible('#submit')), 'no submit button before the agreement');
  await page.check('#agree');
  check(await page.isVisible('#submit'), 'the submit button appears with the agreement');
  await page.fill('#email', 'ops@example.cn');
  await page.fill('#password', secret('server-password-1'));
  await page.click('#submit');
  check(/^[0-9a-f]{32}$/.test((await page.textContent('#request')).trim()), 'server application registered');

  // The RA administrator approves it in the console; anonymous users are sent to log in.
  await page.goto(`${base}/TopCA/admin`);
  check((await page.textContent('h2')).includes('管理员登录'), 'the console asks anonymous users to log in');
  await page.fill('#name', 'ra-admin');
  await page.fill('#password', process.env.TOPCA_ADMIN_PASSWORD);
  await page.click('#submit');
  await page.waitForSelector('#pending');
  await page.screenshot({ path: join(artifacts, 'admin-console.png'), fullPage: true });
  check(!(await page.isVisible('#recoveries')), 'an RA administrator sees no KMC console');
  check(await page.isVisible('#unlock'), 'the RA console offers to unlock a request by its reference');
  const waiting = page.locator('#pending tr:has-text("www.example.cn")');
  check(await waiting.count() === 1, 'the server application waits in the RA console');
  // A server application is approved from its review: every name to be signed.
  await waiting.locator('a:has-text("审核名称后批准")').click();
  await page.waitForSelector('#signed-names');
  const names = (await page.locator('#signed-names li').allTextContents()).map(n => n.trim());
  check(names.length === 1 && names[0] === 'DNS:www.example.cn', `the review lists every name to be signed (${names})`);
  check(await page.isVisible('#allowed'), 'the names are within the account policy');
  await page.screenshot({ path: join(artifacts, 'admin-server-review.png'), fullPage: true });
  await page.click('#approve');
  await page.waitForSelector('#pending');
  check(await page.locator('#pending tr:has-text("www.example.cn")').count() === 0, 'approved: it leaves the queue');
  const issued = readdirSync(outbox).filter(f => f.endsWith('.eml')).sort().reverse().some(file => {
    const out = execFileSync('python3', [process.env.TOPCA_DECODER, 'decode', join(outbox, file)]).toString();
    return out.split('\n').some(l => l.startsWith('attachment\t'));
  });
  check(issued, 'the server certificate was mailed with its PEM attached');

  // The RA administrator creates an account with a Chinese O/OU; users find it.
  await page.goto(`${base}/TopCA/admin`);
  await page.fill('#organization', '新华书店');
  await page.fill('#unit', '信息中心');
  await page.selectOption('#verification', 'automatic');
  await page.click('#create-account');
  check((await page.textContent('#created')).includes('新华书店 / 信息中心'), 'account created in the console');
  await page.goto(`${base}/TopCA/userEnroll`);
  await page.fill('#keyword', '信息');
  await page.waitForSelector('#accounts a:has-text("新华书店")');
  check(true, 'the new account is found by the live search');

  // The RA console's other pages: the account switched to passcode mode, holders
  // pre-registered from a CSV file chosen in the browser, certificates searched.
  await page.goto(`${base}/TopCA/admin/ra/accounts?keyword=${encodeURIComponent('新华')}`);
  await page.click('#accounts a:has-text("新华书店")');
  await page.selectOption('#verification', 'passcode');
  await page.click('#save-account');
  check((await page.textContent('#saved')).includes('新华书店'), 'the account is edited in the console');
  await page.goBack();
  await page.reload();
  await page.setInputFiles('#csv-file', {
    name: 'holders.csv', mimeType: 'text/csv',
    buffer: Buffer.from('姓名,电子邮件\n孙七,sunqi@example.cn\n坏行,not-an-address\n'),
  });
  await page.waitForFunction(() => document.getElementById('csv').value.includes('孙七'));
  await page.click('#upload');
  check((await page.textContent('#registered-count')).trim().endsWith('1'), 'one CSV row pre-registered');
  check((await page.textContent('#rejected')).includes('3'), 'the bad CSV row is reported by its line');
  await page.goto(`${base}/TopCA/admin/ra/certificates`);
  await page.fill('#email', 'wangwu@example.cn');
  await page.click('#find');
  check((await page.textContent(`#certificates tr:has-text("${serial}")`)).includes('已吊销'), 'the revoked certificate shows as revoked in the console');
  // --- pages-ra ---
  // Bulk issuance: a holder CSV chosen in the browser, a report per line and a zip;
  // the report fits a 390 px phone without scrolling sideways.
  await page.goto(`${base}/TopCA/admin/ra/accounts?keyword=${encodeURIComponent('新华')}`);
  await page.click('#accounts a:has-text("新华书店")');
  await page.click('#bulk-link');
  await page.setInputFiles('#bulk-files', {
    name: 'bulk.csv', mimeType: 'text/csv',
    buffer: Buffer.from('姓名,电子邮件\n钱九,qianjiu@example.cn\n钱九,QianJiu@example.cn\n'),
  });
  await page.waitForFunction(() => document.getElementById('bulk-text').value.includes('钱九'));
  await page.click('#bulk-issue');
  await page.waitForSelector('#bulk-report');
  check((await page.textContent('#bulk-summary')).includes('已签发 1 行'), 'bulk issuance issues the good line once');
  check((await page.textContent('#bulk-report')).includes('与第 2 行重复'), 'the repeated line is reported');
  check(await page.isVisible('#bulk-zip'), 'the zip is offered for download');
  await page.setViewportSize({ width: 390, height: 800 });
  check(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'the bulk report fits 390 px');
  await page.screenshot({ path: join(artifacts, 'admin-bulk-report-390.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  // --- end pages-ra ---
  const refused = await page.goto(`${base}/TopCA/admin/super`);
  check(refused.status() === 403, 'an RA administrator cannot open the super-administrator page');

  // The super administrator: administrators and CA operations.
  await adminLogin('root');
  await page.click('#super-link');
  await page.waitForSelector('#admins');
  check(await page.locator('#admins tr[data-admin="kmc-a"]').count() === 1, 'the super administrator sees the administrators');
  const before = await page.textContent('#crl-info');
  await page.click('#crl-now');
  await page.waitForSelector('#crl-info');
  check((await page.textContent('#crl-info')) !== before, 'a CRL is issued on demand');
  await page.screenshot({ path: join(artifacts, 'super-admin.png'), fullPage: true });
  // The console's own pages fit a phone and a desktop without scrolling sideways.
  async function consoleWidths(path, name) {
    await page.goto(`${base}${path}`);
    for (const width of [390, 1280]) {
      await page.setViewportSize({ width, height: 900 });
      await page.screenshot({ path: join(artifacts, `${name}-${width}.png`), fullPage: true });
      const over = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      check(over <= 0, `${name} fits ${width} px without scrolling sideways (${over} px over)`);
    }
    await page.setViewportSize({ width: 1280, height: 720 });
  }
  await consoleWidths('/TopCA/admin', 'console-super');
  await consoleWidths('/TopCA/admin/super', 'super-admins');
  await consoleWidths('/TopCA/admin/audit', 'audit-log');
  await consoleWidths(`/TopCA/admin/audit?kind=admin_login&from=2000-01-01`, 'audit-log-filtered');
  check(await page.locator('#audit tbody tr').count() >= 1, 'the audit log filters by action and date');
  check((await page.textContent('#audit tbody')).includes('管理员登录'), 'audit actions read in Chinese');
  await consoleWidths('/TopCA/admin/audit/checkpoints', 'audit-checkpoints');

  // Two KMC administrators recover the dual holder's encryption key; the holder
  // receives it for their signing certificate. The RA console is not theirs.
  async function adminLogin(name) {
    await page.goto(`${base}/TopCA/admin`);
    if (await page.isVisible('button:has-text("退出")')) {
      await page.click('button:has-text("退出")');
    }
    await page.fill('#name', name);
    await page.fill('#password', process.env.TOPCA_ADMIN_PASSWORD);
    await page.click('#submit');
    await page.waitForSelector('#admin');
  }
  await adminLogin('kmc-a');
  check(!(await page.isVisible('#pending')), 'a KMC administrator sees no RA console');
  await page.click('#keys-link');
  await page.fill('#search', 'zhaoliu@example.cn');
  await page.click('#find');
  const escrowed = page.locator(`#keys tr:has-text("${encryption}")`);
  check(await escrowed.count() === 1, 'the KMC administrator finds the escrowed key by holder');
  await escrowed.locator('input[name=reason]').fill('电脑损坏');
  await escrowed.locator('button:has-text("申请恢复")').click();
  await page.waitForSelector(`#recoveries tr:has-text("${encryption}")`);
  check(true, 'recovery requested by the first KMC administrator');
  await adminLogin('kmc-b');
  await page.locator(`#recoveries tr:has-text("${encryption}")`).locator('button.approve').click();
  await page.waitForSelector('#approved');
  check(!(await page.isVisible('#code')), 'the second KMC administrator approves and sees no code');
  await consoleWidths('/TopCA/admin/kmc/keys', 'kmc-keys');
  await consoleWidths('/TopCA/admin/kmc/recoveries', 'kmc-recoveries');
  check((await page.textContent(`#recoveries tr:has-text("${encryption}")`)).includes('kmc-a'), 'the recovery list names who asked');
  const code = mailedRecoveryCode('zhaoliu@example.cn');
  check(/^[0-9a-f]{32}-/.test(code), 'the holder alone receives the code by mail');
  await page.goto(`${base}/TopCA/userEnroll/recover`);
  await page.fill('#email', 'zhaoliu@example.cn');
  await page.click('#find');
  await page.check(`input[name=serial][value="${signing}"]`);
  await page.fill('#code', code);
  await page.click('#submit');
  check((await page.textContent('#encryption-serial')).trim() === encryption, 'the holder recovers the encryption key and certificate');

  // --- pages-user ---
  // Every page of the user centre fits a phone and a desktop without scrolling
  // sideways; screenshots of each at both widths.
  await login(page, 'userEnroll', '演示', '双证书部门');
  const dualAccount = new URL(page.url()).searchParams.get('account');
  const mail = encodeURIComponent('zhaoliu@example.cn');
  const userPages = {
    home: `home?account=${dualAccount}`,
    apply: `apply?account=${dualAccount}`,
    retrieve: `retrieve?account=${dualAccount}`,
    passcode: `passcode?account=${dualAccount}`,
    query: `query?account=${dualAccount}&email=${mail}&status=all`,
    revoke: `revoke?account=${dualAccount}&serial=${signing}`,
    renew: `renew?account=${dualAccount}&email=${mail}`,
    replace: `replace?account=${dualAccount}`,
    preview: `preview?account=${dualAccount}&email=${mail}`,
    'preview-one': `preview/${signing}?account=${dualAccount}`,
    recover: `recover?account=${dualAccount}&email=${mail}`,
  };
  for (const width of [390, 1280]) {
    await page.setViewportSize({ width, height: 900 });
    for (const [name, path] of Object.entries(userPages)) {
      await page.goto(`${base}/TopCA/userEnroll/${path}`);
      const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
      check(scroll <= client + 1, `user centre ${name} fits ${width} px (${scroll} <= ${client})`);
      check(await page.locator('nav.crumbs a[href="/TopCA/userEnroll"]').count() === 1, `user centre ${name} leads back to the centre`);
      await page.screenshot({ path: join(artifacts, `user-${name}-${width}.png`), fullPage: true });
    }
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  // --- end pages-user ---

  // English on request.
  await page.goto(`${base}/TopCA/userEnroll`);
  await page.click('text=English');
  check((await page.textContent('h2')).includes('User certificate service centre'), 'the English switch works');
} finally {
  await browser.close();
  if (process.env.TOPCA_SECRETS_OUT) {
    writeFileSync(process.env.TOPCA_SECRETS_OUT, [...secrets].filter(v => v.length >= 6).join('\n') + '\n');
  }
}
console.log(`e2e: ${failures === 0 ? 'all passed' : `${failures} failed`}`);
process.exit(failures === 0 ? 0 : 1);
