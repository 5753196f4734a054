// The original platform's example page, served from another origin, works
// against warmbox with only http.cors_origins naming that origin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { baseURL, launchChromium, startPageServer, screenshot } from './lib.mjs';

let browser, page, site;

before(async () => {
  site = await startPageServer();
  browser = await launchChromium();
  page = await browser.newPage();
  await page.goto(`${site.origin}/fixtures/example.html?api=${encodeURIComponent(baseURL)}`);
});

after(async () => { await browser?.close(); await site?.close(); });

async function execute(environment, code) {
  await page.selectOption('#environment', environment);
  await page.fill('#code', code);
  await page.click('#execute');
  await page.waitForFunction(() => document.querySelector('#status').textContent !== 'running', null, { timeout: 30000 });
  return {
    status: await page.textContent('#status'),
    output: await page.textContent('#output'),
    error: await page.textContent('#error'),
    id: await page.textContent('#execution-id'),
    environment: await page.textContent('#result-environment'),
    time: Number(await page.textContent('#execution-time')),
  };
}

test('its /health poll reads the status across origins', async () => {
  await page.waitForFunction(() => document.querySelector('#health').textContent !== 'checking…');
  assert.equal(await page.textContent('#health'), 'healthy');
});

test('a python run shows status, output, id, environment and time', async () => {
  const r = await execute('python', "print('Hello, World!')");
  assert.equal(r.status, 'success', r.error);
  assert.equal(r.output, 'Hello, World!\n');
  assert.equal(r.error, '');
  assert.match(r.id, /^[0-9a-f-]{36}$/);
  assert.equal(r.environment, 'python');
  assert.ok(r.time > 0 && r.time < 30, `execution_time ${r.time}`);
  await screenshot(page, 'original-example');
});

test('a failing node run shows the error text', async () => {
  const r = await execute('node', 'console.error("bad"); process.exit(2)');
  assert.equal(r.status, 'error');
  assert.equal(r.output, '');
  assert.equal(r.error, 'bad\n');
});

test('the page cannot read answers from an origin the daemon does not list', async () => {
  const other = await browser.newPage();
  // Same page, another origin (localhost, not 127.0.0.1): not in cors_origins.
  await other.goto(`${site.origin.replace('127.0.0.1', 'localhost')}/fixtures/example.html?api=${encodeURIComponent(baseURL)}`);
  await other.waitForFunction(() => document.querySelector('#health').textContent !== 'checking…');
  assert.equal(await other.textContent('#health'), 'unreachable');
  await other.close();
});
