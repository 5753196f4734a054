// warmbox pre-start bootstrap for Node.js, run as `node -e THIS`.
//
// It loads node, says so on fd 101, then waits on fd 100 for the job:
// the entry and its args, each ended by a NUL byte. It then runs the
// entry through Module.runMain, the call node's own run_main_module
// makes for `node ENTRY ARGS`, after undoing what -e mode added (the
// module, require, exports, __filename and __dirname globals, the lazy
// globals for every builtin module, process._eval, the -e flag in
// process.execArgv).
//
// The job arrives on a libuv pipe whose read callback calls runMain
// straight from native code, so no frame of this file sits under the
// program's: the one frame that does is compiled under node's own name
// and position for that call (read from node's embedded source), and an
// uncaught error prints exactly as in a normal run. What remains
// different: the program runs in the event loop's poll phase, not
// before the loop starts (setImmediate callbacks it queues run before
// its 0 ms timers); async_hooks.executionAsyncId() at its top level is
// the pipe's id, not 1; libuv's reserve fd (/dev/null, opened with the
// first stream) is open before the program's first write to stdout;
// process.moduleLoadList and /proc/self/cmdline show the bootstrap.
//
// The ready byte goes out through a net.Socket and util.format: the
// code a program's first console.log runs to make its stdout stream and
// format its line (a few milliseconds on a cold start) is then loaded
// and compiled ahead of the job, without touching fds 0 to 2.
(function () {
  'use strict';
  const fs = require('fs');
  const path = require('path');
  const vm = require('vm');
  const Module = require('module');
  const net = require('net');
  const util = require('util');
  const { Pipe, constants: PipeConstants } = process.binding('pipe_wrap');
  const { streamBaseState, kReadBytesOrError, kArrayBufferOffset } = process.binding('stream_wrap');

  let line = 2;
  let column = 3;
  try {
    const lines = process.binding('natives')['internal/main/run_main_module'].split('\n');
    lines.forEach((text, i) => {
      const at = text.lastIndexOf('.runMain(');
      if (at >= 0) {
        line = i + 1;
        column = at + 2;
      }
    });
  } catch {
    // Keep the fallback position.
  }

  const pipe = new Pipe(PipeConstants.SOCKET);
  const chunks = [];
  const more = (buffer) => {
    const n = streamBaseState[kReadBytesOrError];
    if (n <= 0) {
      return false;
    }
    chunks.push(Buffer.from(Buffer.from(buffer, streamBaseState[kArrayBufferOffset], n)));
    return true;
  };
  const go = () => {
    pipe.close();
    const fields = Buffer.concat(chunks).toString().split('\0');
    fields.pop();
    if (fields.length === 0) {
      return false; // the runner let go of us without a job
    }
    process.argv = [process.execPath, path.resolve(fields[0]), ...fields.slice(1)];
    return true;
  };
  const make = vm.runInThisContext(
    '(function (more, go, M) { return function (buffer) { if (more(buffer) || !go()) return;\n' +
      ' '.repeat(Math.max(column - 3, 0)) + 'M.runMain(); }; })',
    { filename: 'node:internal/main/run_main_module', lineOffset: Math.max(line - 2, 0) });
  pipe.onread = make(more, go, Module).bind(globalThis);
  if (pipe.open(100) !== 0 || pipe.readStart() !== 0) {
    process.reallyExit(70);
  }

  // After this script, -e mode puts `module` back on globalThis.
  process.nextTick(() => {
    for (const name of ['module', 'exports', 'require', '__filename', '__dirname']) {
      delete globalThis[name];
    }
    for (const name of Object.getOwnPropertyNames(globalThis)) {
      const d = Object.getOwnPropertyDescriptor(globalThis, name);
      if (d && d.set && d.set.name === 'setReal') {
        delete globalThis[name];
      }
    }
    delete process._eval;
    process.execArgv = process.execArgv.slice(0, -2);
    const ready = new net.Socket({ fd: 101, readable: false, writable: true });
    ready.write(util.format('%s', 'r'));
    ready.destroy();
  });
})();
