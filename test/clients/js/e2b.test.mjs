// The unchanged @e2b/code-interpreter SDK against warmbox's /e2b routes,
// configured only through E2B's own environment variables.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { baseURL } from './lib.mjs';

process.env.E2B_API_URL = `${baseURL}/e2b`;
process.env.E2B_SANDBOX_URL = `${baseURL}/e2b`;
process.env.E2B_API_KEY = process.env.WARMBOX_API_KEY || 'e2b_any_key_when_warmbox_has_none';
const { Sandbox } = await import('@e2b/code-interpreter');

// Each test kills what it created (a client may hold only
// sessions.max_per_client sessions; each context is one).
let open = [];
afterEach(async () => {
  for (const sbx of open) await sbx.kill().catch(() => {});
  open = [];
});

async function create() {
  const sbx = await Sandbox.create();
  open.push(sbx);
  return sbx;
}

test('state is kept across runCode calls: x = 20, then x + 22 gives "42"', async () => {
  const t0 = performance.now();
  const sbx = await create();
  const first = await sbx.runCode('x = 20');
  const firstResultMs = performance.now() - t0;
  console.log(`create to first result: ${firstResultMs.toFixed(1)} ms`);
  assert.equal(first.error, undefined);
  const ex = await sbx.runCode('x + 22');
  assert.equal(ex.text, '42');
  assert.equal(ex.results.length, 1);
  assert.equal(ex.results[0].isMainResult, true);
});

test('stdout and stderr come as logs and through the callbacks, as they are printed', async () => {
  const sbx = await create();
  const seen = [];
  const ex = await sbx.runCode('import sys\nprint("to stdout")\nprint("to stderr", file=sys.stderr)', {
    onStdout: (m) => seen.push(['stdout', m.line]),
    onStderr: (m) => seen.push(['stderr', m.line]),
  });
  assert.deepEqual(ex.logs.stdout, ['to stdout\n']);
  assert.deepEqual(ex.logs.stderr, ['to stderr\n']);
  assert.deepEqual(seen.map(([s]) => s).sort(), ['stderr', 'stdout']);
  assert.equal(ex.text, undefined, 'a cell ending in a statement has no result');
});

test('1/0 is an error with its name, value and traceback; the sandbox lives on', async () => {
  const sbx = await create();
  const ex = await sbx.runCode('1/0');
  assert.equal(ex.error.name, 'ZeroDivisionError');
  assert.equal(ex.error.value, 'division by zero');
  assert.match(ex.error.traceback, /ZeroDivisionError/);
  assert.equal((await sbx.runCode('2 * 21')).text, '42');
});

test('a second sandbox cannot see the first one\'s variables', async () => {
  const a = await create();
  const b = await create();
  await a.runCode('secret = "only in a"');
  const ex = await b.runCode('secret');
  assert.equal(ex.error.name, 'NameError');
  assert.equal((await a.runCode('secret')).text, "'only in a'");
});

test('javascript: by language, and in a context of its own that keeps state', async () => {
  const sbx = await create();
  const byLang = await sbx.runCode('console.log("hello from js"); 6 * 7', { language: 'js' });
  assert.deepEqual(byLang.logs.stdout, ['hello from js\n']);
  assert.equal(byLang.text, '42');
  const ctx = await sbx.createCodeContext({ language: 'javascript' });
  assert.equal(ctx.language, 'javascript');
  await sbx.runCode('let counter = 40', { context: ctx });
  assert.equal((await sbx.runCode('counter + 2', { context: ctx })).text, '42');
  const err = await sbx.runCode('null.x', { context: ctx });
  assert.equal(err.error.name, 'TypeError');
  const contexts = await sbx.listCodeContexts();
  assert.ok(contexts.some((c) => c.id === ctx.id), 'the new context is listed');
  await sbx.removeCodeContext(ctx);
  await assert.rejects(sbx.runCode('1', { context: ctx }), (e) => e.name === 'NotFoundError');
});

test('list, setTimeout and isRunning see a live sandbox', async () => {
  const sbx = await create();
  const listed = await Sandbox.list().nextItems();
  assert.ok(listed.some((s) => s.sandboxId === sbx.sandboxId), 'the sandbox is listed');
  await sbx.setTimeout(60_000);
  assert.equal(await sbx.isRunning(), true);
});

test('kill returns true; a killed sandbox refuses code; killing again returns false', async () => {
  const sbx = await create();
  assert.equal((await sbx.runCode('1 + 1')).text, '2');
  assert.equal(await sbx.kill(), true);
  assert.equal(await sbx.isRunning(), false);
  await assert.rejects(sbx.runCode('1 + 1'), (e) => e.name === 'TimeoutError' && /not found/.test(e.message));
  assert.equal(await Sandbox.kill(sbx.sandboxId), false);
});
