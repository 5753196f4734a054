// The playground page in headless Chromium, used as a person would:
// pick a language, type (with Tab indentation), click Run or press
// Ctrl+Enter, read the panes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { baseURL, launchChromium, screenshot } from './lib.mjs';

let browser, page;
const requested = [];
const consoleErrors = [];

before(async () => {
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.on('request', (r) => requested.push(r.url()));
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  await page.goto(`${baseURL}/playground`);
  await page.waitForFunction(() => document.querySelector('#status').textContent === 'ready', null, { timeout: 15000 });
});

after(async () => { await browser?.close(); });

/** Replaces the editor's text by typing it on the keyboard. */
async function typeCode(lines) {
  await page.click('#code');
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  for (const [i, line] of lines.entries()) {
    if (i > 0) await page.keyboard.press('Enter');
    // A leading "\t" stands for pressing Tab.
    const tabs = line.match(/^\t*/)[0].length;
    for (let k = 0; k < tabs; k++) await page.keyboard.press('Tab');
    await page.keyboard.type(line.slice(tabs));
  }
}

/** Runs (by the button, Ctrl+Enter, or 'wait': already started) and waits for the answer. */
async function run(how = 'click') {
  if (how === 'click') await page.click('#run');
  else if (how === 'keyboard') await page.keyboard.press('Control+Enter');
  await page.waitForFunction(() => !['running…', 'ready'].includes(document.querySelector('#status').textContent)
    && !document.querySelector('#run').disabled, null, { timeout: 30000 });
  return {
    status: await page.textContent('#status'),
    stdout: await page.textContent('#stdout'),
    stderr: await page.textContent('#stderr'),
    exitCode: await page.textContent('#exit-code'),
    message: await page.textContent('#message'),
  };
}

test('the language picker lists what /environments serves', async () => {
  const served = (await (await fetch(`${baseURL}/environments`)).json()).environments;
  const offered = await page.$$eval('#language option', (os) => os.map((o) => o.value));
  assert.deepEqual(offered, served);
  assert.equal(await page.inputValue('#language'), 'python');
});

test('python typed with Tab indentation runs from the Run button', async () => {
  await page.selectOption('#language', 'python');
  await typeCode(['for i in range(3):', '\tprint(i * 2)', '', 'print("done")']);
  assert.equal(await page.inputValue('#code'), 'for i in range(3):\n    print(i * 2)\n\nprint("done")');
  assert.equal((await page.textContent('#gutter')).trim().split('\n').length, 4, 'line numbers follow the text');
  const r = await run('click');
  assert.equal(r.status, 'success', r.message);
  assert.equal(r.stdout, '0\n2\n4\ndone\n');
  assert.equal(r.stderr, '');
  assert.equal(r.exitCode, '0');
  assert.match(await page.textContent('#t-total'), /^\d+\.\d$/, 'the timing breakdown is shown');
  await screenshot(page, 'playground');
});

test('node with stdin and args, run with Ctrl+Enter', async () => {
  await page.selectOption('#language', 'node');
  await typeCode([
    'const input = require("fs").readFileSync(0, "utf8").trim();',
    'console.log(`in=${input} args=${process.argv.slice(2).join(",")}`);',
  ]);
  await page.fill('#stdin', 'hello from stdin\n');
  await page.fill('#args', 'a b\nc');
  await page.click('#code');
  const r = await run('keyboard');
  assert.equal(r.status, 'success', r.message);
  assert.equal(r.stdout, 'in=hello from stdin args=a b,c\n');
});

test('output shows while the program still runs (streamed)', async () => {
  await page.selectOption('#language', 'python');
  await page.fill('#stdin', '');
  await page.fill('#args', '');
  await typeCode(['import time', 'print("first", flush=True)', 'time.sleep(3)', 'print("second")']);
  await page.click('#run');
  await page.waitForFunction(() => document.querySelector('#stdout').textContent.includes('first'), null, { timeout: 15000 });
  assert.equal(await page.textContent('#status'), 'running…', 'the first line came before the program ended');
  assert.equal(await page.textContent('#stdout'), 'first\n');
  const r = await run('wait');
  assert.equal(r.status, 'success');
  assert.equal(r.stdout, 'first\nsecond\n');
});

test('a failing bash program shows stderr, its exit code and status error', async () => {
  await page.selectOption('#language', 'bash');
  await page.fill('#stdin', '');
  await page.fill('#args', '');
  await typeCode(['echo partial', 'echo "went wrong" >&2', 'exit 3']);
  const r = await run('click');
  assert.equal(r.status, 'error');
  assert.equal(r.stdout, 'partial\n');
  assert.equal(r.stderr, 'went wrong\n');
  assert.equal(r.exitCode, '3');
});

test('a program over its timeout shows status timeout', async () => {
  await page.selectOption('#language', 'python');
  await typeCode(['while True:', '\tpass']);
  await page.fill('#timeout', '1');
  const r = await run('click');
  assert.equal(r.status, 'timeout');
  assert.match(r.message, /timed out/);
  await screenshot(page, 'playground-timeout');
  await page.fill('#timeout', '');
});

test('a refused request shows the API error', async () => {
  await page.selectOption('#language', 'python');
  await page.fill('#timeout', '100000');
  await typeCode(['print(1)']);
  const r = await run('click');
  assert.equal(r.status, 'refused');
  assert.match(r.message, /^HTTP 422 invalid_request: timeout must be an integer from 1 to \d+ seconds/);
  await page.fill('#timeout', '');
});

test('the page reached no other host and raised no error', () => {
  const foreign = requested.filter((u) => !u.startsWith(baseURL + '/'));
  assert.deepEqual(foreign, []);
  assert.deepEqual(consoleErrors.filter((e) => !/status of 422/.test(e)), []);
});
