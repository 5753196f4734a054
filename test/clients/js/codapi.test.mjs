// The @antonz/codapi widget (0.19.10), unchanged, in Debian's headless
// Chromium against warmbox's codapi route (/v1/exec): a docs-like page on
// another origin (127.0.0.1:WARMBOX_PAGE_PORT, which the daemon's
// http.cors_origins names) loads the widget from node_modules, and each
// snippet's Run button runs its code on warmbox.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { baseURL, launchChromium, screenshot } from './lib.mjs';

const dist = new URL('./node_modules/@antonz/codapi/dist/', import.meta.url);

// Each snippet: its sandbox, its code, and what the widget must show.
const snippets = [
  { id: 'python', sandbox: 'python', code: 'print("hello from python", 6 * 7)', output: 'hello from python 42', state: 'succeded' },
  { id: 'javascript', sandbox: 'javascript', code: 'console.log("hello from javascript", [1, 2, 3].map((x) => x * 2).join(","))', output: 'hello from javascript 2,4,6', state: 'succeded' },
  { id: 'bash', sandbox: 'bash', code: 'echo "hello from bash $((6 * 7))"', output: 'hello from bash 42', state: 'succeded' },
  // A failure: codapi's answer has ok false and everything in stderr.
  { id: 'failing', sandbox: 'python', code: 'import sys\nprint("to stderr", file=sys.stderr)\nsys.exit(3)', output: 'to stderr (exit status 3)', state: 'failed' },
];

const escape = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Examples - warmbox docs</title>
<link rel="stylesheet" href="/codapi/snippet.css">
<style>body { font: 15px/1.5 sans-serif; max-width: 46em; margin: 2em auto; } pre { background: #f4f4f4; padding: .6em; }</style>
</head>
<body>
<h1>Examples</h1>
<p>Each example runs on warmbox (${escape(baseURL)}) through its codapi API.</p>
<codapi-settings url="${escape(baseURL)}/v1"></codapi-settings>
${snippets.map((s) => `<h2>${s.id}</h2>
<pre><code>${escape(s.code)}</code></pre>
<codapi-snippet id="snippet-${s.id}" sandbox="${s.sandbox}" editor="basic"></codapi-snippet>`).join('\n')}
<script src="/codapi/snippet.js"></script>
</body>
</html>`;

let server, origin, browser;
const sent = []; // the widget's requests to warmbox

before(async () => {
  const port = Number(process.env.WARMBOX_PAGE_PORT);
  assert.ok(port, 'WARMBOX_PAGE_PORT is not set');
  // The docs site: the page, and the widget's files from node_modules.
  const files = { '/codapi/snippet.js': 'text/javascript', '/codapi/snippet.css': 'text/css' };
  server = createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(page);
    } else if (files[path]) {
      const body = await readFile(new URL(path.slice('/codapi/'.length), dist));
      res.writeHead(200, { 'Content-Type': files[path] }).end(body);
    } else {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((resolve, reject) => server.listen(port, '127.0.0.1', resolve).on('error', reject));
  origin = `http://127.0.0.1:${port}`;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
});

test('the widget runs python, javascript and bash snippets on warmbox', { timeout: 120_000 }, async () => {
  const tab = await browser.newPage();
  const errors = [];
  tab.on('pageerror', (e) => errors.push(e.message));
  tab.on('request', (r) => {
    if (r.url().startsWith(baseURL)) sent.push({ method: r.method(), url: r.url(), headers: r.headers(), body: r.postData() });
  });
  await tab.goto(origin + '/');
  assert.notEqual(new URL(baseURL).origin, origin, 'the page is on another origin than the daemon');

  for (const s of snippets) {
    const el = `#snippet-${s.id}`;
    await tab.waitForSelector(`${el} codapi-toolbar button:not([hidden])`);
    await tab.click(`${el} codapi-toolbar button`);
    await tab.waitForSelector(`${el}[state="succeded"], ${el}[state="failed"]`, { timeout: 30_000 });
    const state = await tab.getAttribute(el, 'state');
    const output = await tab.textContent(`${el} codapi-output pre code`);
    const status = (await tab.textContent(`${el} codapi-status`)).trim();
    assert.equal(output, s.output, `${s.id}: output`);
    assert.equal(state, s.state, `${s.id}: state`);
    assert.ok(status.startsWith(s.state === 'succeded' ? '\u2713 Done' : '\u2718 Failed'), `${s.id}: status "${status}"`);
  }
  await screenshot(tab, 'codapi-widget');
  assert.deepEqual(errors, [], 'no error on the page');

  // What the widget sent: one POST per snippet, JSON, to <url>/exec.
  const posts = sent.filter((r) => r.method === 'POST');
  assert.equal(posts.length, snippets.length);
  posts.forEach((r, i) => {
    assert.equal(r.url, `${baseURL}/v1/exec`);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(r.body), { sandbox: snippets[i].sandbox, version: '', command: 'run', files: { '': snippets[i].code } });
  });
  await tab.close();
});

test('the API itself: an answer, a health probe, and codapi errors', async () => {
  const headers = { 'content-type': 'application/json', origin };
  let res = await fetch(`${baseURL}/v1/exec`, {
    method: 'POST', headers,
    body: JSON.stringify({ sandbox: 'sh', command: 'run', files: { '': 'cat data.txt', 'data.txt': 'from a file\n' } }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), origin);
  const out = await res.json();
  assert.deepEqual(Object.keys(out), ['id', 'ok', 'duration', 'stdout', 'stderr']);
  assert.match(out.id, /^sh_run_[0-9a-f-]{36}$/);
  assert.equal(out.ok, true);
  assert.equal(out.stdout, 'from a file');
  assert.equal(out.stderr, '');
  assert.equal(typeof out.duration, 'number');

  res = await fetch(`${baseURL}/v1/health`, { method: 'HEAD', headers: { origin } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), origin);

  res = await fetch(`${baseURL}/v1/exec`, { method: 'POST', headers, body: JSON.stringify({ sandbox: 'cobol', command: 'run', files: { '': 'x' } }) });
  assert.equal(res.status, 404);
  const e = await res.json();
  assert.equal(e.ok, false);
  assert.match(e.stderr, /^unknown sandbox "cobol"; served: /);

  res = await fetch(`${baseURL}/v1/exec`, { method: 'POST', headers, body: JSON.stringify({ sandbox: 'python', command: 'test', files: { '': 'x' } }) });
  assert.equal(res.status, 404);
  assert.equal((await res.json()).stderr, 'unknown command "test"; the only command is "run"');
});
