// piston-client 1.0.2, unchanged, against warmbox's Piston v2 routes
// (/api/v2/runtimes, /api/v2/execute). The client sends its JSON with no
// Content-Type (node-fetch labels it text/plain;charset=UTF-8) and
// returns the parsed answer, errors included, as they come.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import piston from 'piston-client';
import { baseURL } from './lib.mjs';

const client = piston({ server: baseURL });

// The versions /environments reports, which the runtimes must repeat.
const versions = await (async () => {
  const res = await fetch(`${baseURL}/environments`);
  assert.equal(res.status, 200);
  const { details } = await res.json();
  return Object.fromEntries(Object.entries(details).map(([name, d]) => [name, d.version]));
})();

/** Checks a successful run's whole answer. */
function assertRan(result, { language, version, stdout }) {
  assert.deepEqual(Object.keys(result).sort(), ['language', 'run', 'version'], 'no compile stage, nothing else');
  assert.equal(result.language, language);
  assert.equal(result.version, version);
  const run = result.run;
  assert.deepEqual(Object.keys(run).sort(),
    ['code', 'cpu_time', 'memory', 'message', 'output', 'signal', 'status', 'stderr', 'stdout', 'wall_time']);
  assert.equal(run.stdout, stdout);
  assert.equal(run.stderr, '');
  assert.equal(run.output, stdout);
  assert.equal(run.code, 0);
  assert.equal(run.signal, null);
  assert.equal(run.status, null);
  assert.equal(run.message, null);
  for (const k of ['cpu_time', 'wall_time', 'memory']) {
    assert.equal(typeof run[k], 'number', k);
    assert.ok(run[k] >= 0, `${k} = ${run[k]}`);
  }
  assert.ok(run.memory > 1024 * 1024, `memory ${run.memory} is in bytes`);
}

test('runtimes list the served languages with Piston names and aliases', async () => {
  const runtimes = await client.runtimes();
  assert.ok(Array.isArray(runtimes), JSON.stringify(runtimes));
  const byLanguage = Object.fromEntries(runtimes.map((r) => [r.language, r]));
  assert.deepEqual(byLanguage.python, { language: 'python', version: versions.python, aliases: ['py', 'py3', 'python3'] });
  assert.deepEqual(byLanguage.javascript, {
    language: 'javascript', version: versions.node, runtime: 'node',
    aliases: ['node-javascript', 'node-js', 'javascript', 'js', 'node'],
  });
  assert.deepEqual(byLanguage.bash, { language: 'bash', version: versions.bash, aliases: ['sh'] });
  for (const v of [versions.python, versions.node, versions.bash]) {
    assert.match(v, /^\d+\.\d+\.\d+$/);
  }
});

test('python hello', async () => {
  const result = await client.execute('python', 'print("hello from python", 6 * 7)');
  assertRan(result, { language: 'python', version: versions.python, stdout: 'hello from python 42\n' });
});

test('javascript hello (node)', async () => {
  const result = await client.execute('javascript', 'console.log("hello from javascript", [1, 2, 3].map((x) => x * 2).join(","))');
  assertRan(result, { language: 'javascript', version: versions.node, stdout: 'hello from javascript 2,4,6\n' });
});

test('bash hello', async () => {
  const result = await client.execute('bash', 'echo "hello from bash $((6 * 7))"');
  assertRan(result, { language: 'bash', version: versions.bash, stdout: 'hello from bash 42\n' });
});

test('stdin reaches the program', async () => {
  const result = await client.execute('python', 'print(input()[::-1])\nprint(input())', { stdin: 'abc\nlast' });
  assertRan(result, { language: 'python', version: versions.python, stdout: 'cba\nlast\n' });
});

test("args: the client's default [1, 2, 3] are printed back", async () => {
  const py = await client.execute('python', 'import sys; print(sys.argv[1:])');
  assertRan(py, { language: 'python', version: versions.python, stdout: "['1', '2', '3']\n" });
  const sh = await client.execute('bash', 'echo "$#: $@"');
  assertRan(sh, { language: 'bash', version: versions.bash, stdout: '3: 1 2 3\n' });
  const js = await client.execute('javascript', 'console.log(process.argv.slice(2).join("+"))', { args: ['a b', 'c'] });
  assertRan(js, { language: 'javascript', version: versions.node, stdout: 'a b+c\n' });
});

test('run_timeout: a sleeping program times out (TO, SIGKILL)', async () => {
  const result = await client.execute('python', 'import time\nprint("start", flush=True)\ntime.sleep(10)', { runTimeout: 700 });
  const run = result.run;
  assert.ok(run, JSON.stringify(result));
  assert.equal(run.status, 'TO');
  assert.equal(run.message, 'Time limit exceeded (wall clock)');
  assert.equal(run.signal, 'SIGKILL');
  assert.equal(run.code, null);
  assert.equal(run.stdout, 'start\n');
  assert.ok(run.wall_time >= 690 && run.wall_time < 5000, `wall_time ${run.wall_time} ms`);
});

test('a failing program: RE with its exit status', async () => {
  const result = await client.execute('python', 'import sys\nprint("oops", file=sys.stderr)\nsys.exit(3)');
  const run = result.run;
  assert.equal(run.code, 3);
  assert.equal(run.status, 'RE');
  assert.equal(run.message, 'Exited with error status 3');
  assert.equal(run.stderr, 'oops\n');
  assert.equal(run.output, 'oops\n');
});

test('an unknown language: the client returns the 400 message', async () => {
  // The client finds no runtime named "cobol", so it sends no version.
  assert.deepEqual(await client.execute('cobol', 'DISPLAY "HI".'), {
    message: 'version is required as a string, and language "cobol" matches no runtime (see GET /api/v2/runtimes)',
  });
  assert.deepEqual(await client.execute('cobol', 'x', { version: '3.0.0' }), { message: 'cobol-3.0.0 runtime is unknown' });
  assert.deepEqual(await client.execute('python', 'x', { version: '9.9.9' }), { message: 'python-9.9.9 runtime is unknown' });
});

test('a limit over the maximum: the client returns the 400 message', async () => {
  const res = await fetch(`${baseURL}/environments`);
  const max = (await res.json()).details.python.limits.max_timeout_seconds * 1000;
  assert.deepEqual(await client.execute('python', 'print(1)', { runTimeout: max + 1 }),
    { message: `run_timeout cannot exceed the configured limit of ${max}` });
});
