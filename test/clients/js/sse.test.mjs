// A streamed /execute read the way a browser or node client reads it:
// node's own fetch, the body taken chunk by chunk from
// res.body.getReader() as it arrives, the Server-Sent Events parsed by
// hand (EventSource cannot POST).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { baseURL } from './lib.mjs';

/** Posts body to /execute asking for events; returns the response. */
function post(body) {
  return fetch(`${baseURL}/execute`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
    body: JSON.stringify(body),
  });
}

/**
 * Reads an event stream to its end: each event is
 * {event, data (parsed JSON), at (ms since the request was sent)}.
 */
async function readEvents(res, sent) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const events = [];
  let buffer = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields = Object.fromEntries(block.split('\n').map((line) => {
        const colon = line.indexOf(': ');
        return [line.slice(0, colon), line.slice(colon + 2)];
      }));
      events.push({ event: fields.event, data: JSON.parse(fields.data), at: performance.now() - sent });
    }
  }
  assert.equal(buffer, '', 'the stream ends after a whole event');
  return events;
}

/** The events' texts of one stream, joined. */
const joined = (events, stream) => events.filter((e) => e.event === stream).map((e) => e.data.text).join('');

test('the first line arrives before the program ends', async () => {
  const sent = performance.now();
  const res = await post({
    environment: 'python',
    code: 'import time\nprint("first", flush=True)\ntime.sleep(1)\nprint("second")',
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const events = await readEvents(res, sent);
  const first = events[0];
  const result = events.at(-1);
  assert.deepEqual([first.event, first.data], ['stdout', { text: 'first\n' }]);
  assert.equal(result.event, 'result');
  assert.equal(events.filter((e) => e.event === 'result').length, 1);
  // The program sleeps 1 s between its lines.
  assert.ok(result.at - first.at >= 700, `first line ${first.at.toFixed(0)} ms, result ${result.at.toFixed(0)} ms after the request`);
  assert.equal(result.data.status, 'success');
  assert.equal(result.data.stdout, 'first\nsecond\n');
  assert.equal(joined(events, 'stdout'), result.data.stdout);
  assert.match(result.data.execution_id, /^[0-9a-f-]{36}$/);
  assert.equal(result.data.execution_id, res.headers.get('x-request-id'));
});

test('stderr comes as stderr events, the exit code in the result', async () => {
  const res = await post({ environment: 'node', code: 'console.error("oops"); process.exitCode = 3;' });
  const events = await readEvents(res, performance.now());
  const result = events.at(-1).data;
  assert.equal(joined(events, 'stderr'), 'oops\n');
  assert.equal(result.status, 'error');
  assert.equal(result.exit_code, 3);
  assert.equal(result.stderr, 'oops\n');
});

test('a character split across chunks comes whole', async () => {
  // 3-byte characters written one byte at a time.
  const res = await post({
    environment: 'python',
    code: 'import os, time\nfor b in "€uro".encode():\n    os.write(1, bytes([b]))\n    time.sleep(0.05)',
  });
  const events = await readEvents(res, performance.now());
  assert.equal(joined(events, 'stdout'), '€uro');
  assert.equal(events.at(-1).data.stdout, '€uro');
});

test('a request refused before the program starts is a JSON error', async () => {
  const res = await post({ environment: 'cobol', code: 'x' });
  assert.equal(res.status, 422);
  assert.match(res.headers.get('content-type'), /^application\/json/);
  assert.equal((await res.json()).error.code, 'unknown_environment');
});
