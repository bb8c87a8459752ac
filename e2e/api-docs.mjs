// The browsable API page (/api/docs) in headless Chromium: Swagger UI loads from
// the server's own files under its Content-Security-Policy (no violation, no
// script error), reads /api/v1/openapi.json and shows every operation, grouped
// by tag, with the bearer scheme's "Authorize" button.
//
// TOPCA_URL: the server; TOPCA_ARTIFACTS: where the screenshot goes.
import { join } from 'node:path';
import { launchChromium } from './browser.mjs';

const base = process.env.TOPCA_URL;
const artifacts = process.env.TOPCA_ARTIFACTS;
let passed = 0;
let failed = 0;
function check(ok, what) {
  if (ok) {
    passed += 1;
    console.log(`ok - ${what}`);
  } else {
    failed += 1;
    console.log(`not ok - ${what}`);
  }
}

const description = await (await fetch(`${base}/api/v1/openapi.json`)).json();
let operations = 0;
for (const item of Object.values(description.paths)) {
  operations += ['get', 'put', 'post', 'delete', 'patch'].filter((m) => item[m]).length;
}

const browser = await launchChromium();
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(20000);
  const problems = [];
  const outside = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || /Content.Security.Policy/i.test(message.text())) {
      problems.push(message.text());
    }
  });
  page.on('pageerror', (error) => problems.push(`script error: ${error.message}`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`${response.status()} for ${response.url()}`);
  });
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(base) && !url.startsWith('data:')) outside.push(url);
  });
  const response = await page.goto(`${base}/api/docs`);
  check(response.status() === 200, '/api/docs answers 200');
  check((response.headers()['content-security-policy'] || '').includes("script-src 'self'"),
    'the page is served under the Content-Security-Policy');
  await page.waitForSelector('.opblock', { state: 'attached' });
  const shown = await page.locator('.opblock').count();
  check(shown === operations, `Swagger UI shows every operation (${shown} of ${operations})`);
  check(await page.locator('.opblock-tag').count() >= 6, 'operations are grouped by tag');
  check(await page.locator('button.authorize').count() === 1, 'the bearer scheme gives an Authorize button');
  check((await page.textContent('.info .title')).includes('TopCA'), 'the title is the description\'s');
  await page.screenshot({ path: join(artifacts, 'api-docs.png'), fullPage: false });
  check(problems.length === 0, `no console error or policy violation${problems.length ? `: ${problems.join(' | ')}` : ''}`);
  check(outside.length === 0, `no request leaves the server${outside.length ? `: ${outside.join(' ')}` : ''}`);
} finally {
  await browser.close();
}
console.log(`api-docs: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
