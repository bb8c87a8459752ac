// Walks every page of TopCA in headless Chromium, as each kind of visitor sees it:
// anonymous (from `/`, the CA pages), a user of the user centre and of the server
// centre (logged in by picking a demonstration account), and each administrator
// role (super, RA, KMC). From each start it follows same-origin GET links,
// breadth first, skipping downloads, the language switch and anything else with
// a side effect, one page per path and set of query parameters (console pages
// once per role, the others once in all), at most MAX_PAGES pages per visitor.
//
// Every page, at 390 px and 1280 px wide:
//   - a full-page screenshot in $TOPCA_ARTIFACTS/pages/ named after its path;
//   - a failure when the document is wider than the window (horizontal scrolling);
//   - on Chinese pages (the default language), a failure for every ASCII word of
//     two Latin letters or more in the visible text (and in placeholder, title
//     and button value attributes) that is not on the allow-list: algorithm,
//     format and product names, serials and hex, e-mail addresses, domains, file
//     names, command lines in <pre>/<code>, and user data: text inside an element
//     marked translate="no" (names, subjects, e-mails the page shows as data),
//     the accounts the search offered and the administrators' names.
// $TOPCA_ARTIFACTS/pages.json lists every page: path, width, title, screenshot.
//
// usage: node e2e/pages.mjs [--report-only]
//   --report-only: print the failures but exit 0 (local runs while other areas
//   are still being converted); scripts/test runs it strict.
// env: TOPCA_URL, TOPCA_ARTIFACTS, TOPCA_ADMIN_PASSWORD (of "root" (super),
//      "ra-admin" and "kmc-a" (KMC), made with `topca-server admin add`),
//      TOPCA_SERVER_CSR (optional: a PEM request; the server centre's review of
//      it is checked too).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.TOPCA_URL;
const artifacts = process.env.TOPCA_ARTIFACTS;
const adminPassword = process.env.TOPCA_ADMIN_PASSWORD;
const reportOnly = process.argv.includes('--report-only');
if (!base || !artifacts || !adminPassword) {
  console.error('TOPCA_URL, TOPCA_ARTIFACTS and TOPCA_ADMIN_PASSWORD are needed');
  process.exit(2);
}
const shots = join(artifacts, 'pages');
mkdirSync(shots, { recursive: true });

const WIDTHS = [390, 1280];
const MAX_PAGES = 60;

/** Words a Chinese page may show in Latin letters. */
const ALLOWED = new Set([
  // algorithms, formats, protocols
  'RSA', 'SM', 'SM2', 'SM3', 'SM4', 'ECDSA', 'ECC', 'EC', 'Ed', 'Ed25519', 'SHA', 'PEM', 'DER', 'PKCS',
  'CRL', 'CRLs', 'OCSP', 'CA', 'CAs', 'RA', 'KMC', 'CSR', 'CSRs', 'URL', 'PIN', 'SSL', 'TLS', 'ID', 'IDs',
  'HTTP', 'HTTPS', 'API', 'JSON', 'CSV', 'UTC', 'PBES', 'AES', 'GCM', 'CBC', 'DNS', 'IP', 'SAN', 'CN', 'OU',
  'ST', 'OID', 'PKI', 'LDAP', 'SMTP', 'UKey', 'USB', 'HSM', 'ASN', 'UTF', 'PDF', 'QR', 'TOTP',
  'email', 'DNS', 'URI', 'IPv', 'MB', 'KB', 'NIST', 'GM', 'GB', 'GBT', 'Argon', 'id',
  'ACME', 'CMP', 'EST', 'EAB', 'HMAC', 'MAC',
  // product and platform names
  'TopCA', 'Windows', 'macOS', 'Linux', 'Firefox', 'Chrome', 'Chromium', 'Edge', 'Safari', 'OpenSSL',
  'GmSSL', 'Java', 'keytool', 'Debian', 'Ubuntu', 'Red', 'Hat', 'CentOS', 'Fedora', 'openEuler',
  'Android', 'iOS', 'WebAssembly', 'PostgreSQL', 'SQLite', 'Nginx', 'Apache', 'Tomcat', 'IIS',
  // the language switch
  'English',
]);

/** Text that is not words: removed before the words are counted. */
const NOT_WORDS = [
  /-----(BEGIN|END) [A-Z0-9 ]+-----/g,         // PEM armour (placeholders)
  /[\w.+-]+@[\w-]+(\.[\w-]+)+/g,               // e-mail addresses
  /https?:\/\/\S+/g,                           // URLs
  /(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+/g,   // domains, file names (root.cer), versions
  /\b[0-9A-Fa-f:]{8,}\b/g,                     // serials, fingerprints, hex
  /\b[0-9a-f]{32}\b/g,                         // request references
  /[A-Za-z0-9+/]{40,}={0,2}/g,                 // base64
];

let failures = 0;
const report = [];
const ADMINS = { super: 'root', ra: 'ra-admin', kmc: 'kmc-a' };
// Names the data holds: the administrators, and the demo ACME profile's machine
// client (`acme`) with the one host name it may issue for (`localhost`).
const userData = new Set([...Object.values(ADMINS), 'acme', 'localhost'].flatMap(n => n.match(/[A-Za-z]{2,}/g) || []));

function fail(what) {
  failures++;
  console.log(`FAIL ${what}`);
}

/** Whether a link's URL is one to follow: same origin, a page, without side effects. */
function followable(url) {
  if (url.origin !== new URL(base).origin) return false;
  const path = url.pathname;
  if (/\.(cer|crt|pem|p7b|p7c|p12|pfx|crl|der|zip|csv|json|js|css|wasm|key|txt|png|svg)$/i.test(path)) return false;
  if (path.startsWith('/api/') || ['/metrics', '/healthz', '/readyz', '/livez'].includes(path)) return false;
  if (path.startsWith('/TopCA/lang') || /logout|signout/i.test(path)) return false;
  if (path.startsWith('/TopCA/certificates/') || path.startsWith('/TopCA/ocsp')) return false;
  // Links mailed to holders act when opened (confirmations, replacements).
  if (/confirm|replace\/open|unlock/i.test(path)) return false;
  return true;
}

/** One entry per path and set of query parameter names: bounded walks. */
function pageKey(url) {
  return `${url.pathname}?${[...url.searchParams.keys()].sort().join('&')}`;
}

/** Pages walked, over all visitors: public pages once, console pages once per role. */
const walked = new Set();
function walkKey(url, visitor) {
  return url.pathname.startsWith('/TopCA/admin') ? `${visitor}:${pageKey(url)}` : pageKey(url);
}

/** A file name for the screenshot of `url` at `width`. */
function shotName(url, width, visitor) {
  const keys = [...url.searchParams.keys()].sort().join('-');
  const path = url.pathname.replace(/^\/+|\/+$/g, '').replace(/[^A-Za-z0-9_-]+/g, '_') || 'home';
  return `${path}${keys ? `__${keys}` : ''}__${visitor}-${width}.png`;
}

/** The words of `text` in Latin letters that a Chinese page should not show. */
function englishWords(text) {
  let rest = text;
  for (const pattern of NOT_WORDS) rest = rest.replace(pattern, ' ');
  const words = rest.match(/[A-Za-z]{2,}/g) || [];
  return [...new Set(words.filter(w => !ALLOWED.has(w) && !userData.has(w)))];
}

/** The visible text of the page outside <pre>/<code>, with placeholders, titles and button values. */
async function visibleText(page) {
  return page.evaluate(() => {
    const parts = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (!parent || parent.closest('pre, code, script, style, template, noscript, [translate=no]')) continue;
      if (!parent.checkVisibility({ visibilityProperty: true })) continue;
      parts.push(node.textContent);
    }
    for (const el of document.querySelectorAll('[placeholder], [title], button[value], input[type=submit][value], input[type=button][value]')) {
      if (!el.checkVisibility() || el.closest('[translate=no]')) continue;
      for (const attr of ['placeholder', 'title']) if (el.getAttribute(attr)) parts.push(el.getAttribute(attr));
      if (el.matches('button, input[type=submit], input[type=button]') && el.value) parts.push(el.value);
    }
    return parts.join('\n');
  });
}

/** Screenshot, width and language checks of the page shown now, `width` px wide,
 *  reached as `label` with answer `status`. */
async function inspect(page, label, width, visitor, status) {
  const file = shotName(new URL(label, base), width, visitor);
  await page.screenshot({ path: join(shots, file), fullPage: true });
  const title = (await page.title()).replace(/ — TopCA$/, '');
  report.push({ path: label, visitor, width, status, title, screenshot: `pages/${file}` });
  const { scroll, inner } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth, inner: window.innerWidth,
  }));
  if (scroll > inner) fail(`${visitor} ${label} at ${width} px: ${scroll} px wide (horizontal scrolling)`);
  if (width !== WIDTHS[WIDTHS.length - 1]) return;
  const lang = await page.evaluate(() => document.documentElement.lang);
  if (lang === 'zh-CN') {
    const words = englishWords(await visibleText(page));
    if (words.length) fail(`${visitor} ${label}: English on a Chinese page: ${words.join(', ')}`);
  }
  if (status >= 500) fail(`${visitor} ${label}: status ${status}`);
}

/** The page shown now (the answer to a form), inspected at every width. */
async function inspectHere(page, label, visitor) {
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    await inspect(page, label, width, visitor, 200);
  }
}

/** Loads `url` at every width and inspects it: its links, or null for a download. */
async function visit(page, url, visitor) {
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    let response;
    try {
      response = await page.goto(url.href, { waitUntil: 'load' });
    } catch (e) {
      // A link that answers with a file: not a page.
      if (/Download is starting/.test(e.message)) return null;
      throw e;
    }
    await inspect(page, url.pathname + url.search, width, visitor, response ? response.status() : 0);
  }
  return new Set(await page.$$eval('a[href]:not([download])', as => as.map(a => a.href)));
}

/** Walks from `starts` in `page` (already logged in as needed): breadth first, bounded. */
async function walk(page, starts, visitor) {
  const queue = starts.map(start => new URL(start, base));
  for (const url of queue) walked.add(walkKey(url, visitor));
  let count = 0;
  while (queue.length && count < MAX_PAGES) {
    const url = queue.shift();
    let links;
    try {
      links = await visit(page, url, visitor);
      if (!links) continue;
    } catch (e) {
      fail(`${visitor} ${url.pathname}${url.search}: ${e.message.split('\n')[0]}`);
      continue;
    }
    count++;
    for (const href of links) {
      const next = new URL(href);
      next.hash = '';
      if (!followable(next)) continue;
      const key = walkKey(next, visitor);
      if (walked.has(key)) continue;
      walked.add(key);
      queue.push(next);
    }
  }
  console.log(`ok   ${visitor}: ${count} pages walked`);
}

/** Logs in to a centre by picking the first account the keyword finds; its home URL. */
async function centreLogin(page, centre, keyword) {
  await page.goto(`${base}/TopCA/${centre}`);
  await page.fill('#keyword', keyword);
  const first = page.locator('#accounts a').first();
  await first.waitFor();
  for (const name of await page.locator('#accounts a').allTextContents()) {
    for (const word of name.match(/[A-Za-z]{2,}/g) || []) userData.add(word);
  }
  await first.click();
  await page.waitForSelector('#functions');
  return page.url();
}

/** Logs in to the administrators' console as `name`. */
async function adminLogin(page, name) {
  await page.goto(`${base}/TopCA/admin`);
  await page.fill('#name', name);
  await page.fill('#password', adminPassword);
  await page.click('#submit');
  await page.waitForLoadState('load');
}

/** The server centre's review (what the CA would sign), reached by posting the
 *  CSR of $TOPCA_SERVER_CSR from the application form; not submitted. */
async function serverReview(page, visitor) {
  if (!process.env.TOPCA_SERVER_CSR) return;
  const home = new URL(await centreLogin(page, 'serverEnroll', '服务器'));
  await page.goto(`${base}/TopCA/serverEnroll/apply?account=${home.searchParams.get('account')}`);
  await page.fill('#csr', readFileSync(process.env.TOPCA_SERVER_CSR, 'utf8'));
  await page.click('#submit');
  await page.waitForSelector('#parsed');
  await page.click('#agreement summary');
  await inspectHere(page, '/TopCA/serverEnroll/review', visitor);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  // Each visitor: where its walk starts (a home page, and searches that find
  // what the e2e run of centres.mjs made), and pages reached only by a form.
  const visitors = [
    ['anonymous', async () => [`${base}/`]],
    ['user', async page => {
      const home = new URL(await centreLogin(page, 'userEnroll', '演示'));
      const account = home.searchParams.get('account');
      return [home.href, `${base}/TopCA/userEnroll/query?account=${account}&email=wangwu%40example.cn`];
    }],
    ['server', async page => {
      const home = new URL(await centreLogin(page, 'serverEnroll', '服务器'));
      const account = home.searchParams.get('account');
      return [home.href, `${base}/TopCA/serverEnroll/query?account=${account}&name=www.example.cn`];
    }, serverReview],
    ...Object.entries(ADMINS).map(([role, name]) => [role, async page => {
      await adminLogin(page, name);
      return [page.url()];
    }]),
  ];
  for (const [visitor, starts, forms] of visitors) {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(20000);
    try {
      await walk(page, await starts(page), visitor);
      if (forms) await forms(page, visitor);
    } catch (e) {
      fail(`${visitor}: ${e.message.split('\n')[0]}`);
    }
    await context.close();
  }
} finally {
  await browser.close();
}

writeFileSync(join(artifacts, 'pages.json'), JSON.stringify(report, null, 2));
console.log(`${report.length} screenshots of ${report.length / WIDTHS.length} pages in ${shots}; ${failures} failures`);
if (failures && !reportOnly) process.exit(1);
