// warmbox session interpreter for Node.js, run as `node -e THIS`.
//
// A session keeps one interpreter for many runs (cells), so that
// globals, required modules and top-level let/const/class declarations
// persist between them. The runner writes each cell's source to fd 100,
// ended by a NUL byte; the interpreter answers on fd 101 with one JSON
// line per event: {"kind": "ready"} once loaded, then after every cell
// {"kind": "done", "value": TEXT or null, "error": {"name", "value",
// "traceback"} or null}. The cell's output goes to stdout and stderr
// (pipes: written synchronously on Linux, so a cell's output is out
// before its "done"); after it, before "done", the end-of-cell marker is
// written on fds 1 and 2, so that the runner knows all of the cell's
// output has come.
//
// A cell runs as a script in the main context (vm.runInThisContext), as
// the REPL runs each line: its completion value (util.inspect; undefined
// gives none) is the cell's value, and `_` names it. A thrown value is
// reported with its stack and the session lives on. Callbacks a cell
// schedules run between cells, their output going to no cell in
// particular; a returned promise is awaited before the cell is done.
(function () {
  'use strict';
  const fs = require('fs');
  const net = require('net');
  const util = require('util');
  const vm = require('vm');

  for (const name of ['module', 'exports', '__filename', '__dirname']) {
    delete globalThis[name];
  }
  globalThis.require = require;
  // Between cells (or while a cell's promise is pending) an interrupt
  // must not end the session: node's default for SIGINT is to exit.
  process.on('SIGINT', () => {});
  process.argv = [process.execPath];
  delete process._eval;

  const marker = Buffer.from('\0\x1ewarmbox-cell-done\x1e\0', 'latin1');
  const emit = (event) => {
    for (const fd of [1, 2]) {
      try {
        fs.writeSync(fd, marker);
      } catch {
        // The cell closed it: nothing of it can be missed.
      }
    }
    fs.writeSync(101, JSON.stringify(event) + '\n');
  };
  // A stack without the frames below the cell's (vm, this file).
  const cellStack = (stack) => {
    const lines = String(stack).split('\n');
    const end = lines.findIndex((l) => /^\s+at (Script\.runInThisContext|Object\.runInThisContext) /.test(l));
    return (end > 0 ? lines.slice(0, end) : lines).join('\n');
  };
  const describe = (e) => {
    if (e instanceof Error) {
      return { name: e.name, value: e.message, traceback: cellStack(e.stack) };
    }
    return { name: 'Error', value: util.inspect(e), traceback: 'Uncaught ' + util.inspect(e) };
  };

  let n = 0;
  const run = async (source) => {
    n += 1;
    const event = { kind: 'done', value: null, error: null };
    try {
      // breakOnSigint: the runner's interrupt at the cell's timeout
      // stops a synchronous loop with an error; the session lives on.
      let value = vm.runInThisContext(source, { filename: `<cell ${n}>`, displayErrors: false, breakOnSigint: true });
      if (value && typeof value.then === 'function') {
        value = await value;
      }
      if (value !== undefined) {
        globalThis._ = value;
        event.value = util.inspect(value);
      }
    } catch (e) {
      event.error = describe(e);
    }
    emit(event);
  };

  // Cells run one after another, in the order they came.
  let queue = Promise.resolve();
  let pending = Buffer.alloc(0);
  const cells = new net.Socket({ fd: 100, readable: true, writable: false });
  cells.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    let end;
    while ((end = pending.indexOf(0)) >= 0) {
      const source = pending.subarray(0, end).toString('utf8');
      pending = pending.subarray(end + 1);
      queue = queue.then(() => run(source));
    }
  });
  cells.on('end', () => queue.then(() => process.exit(0)));
  fs.writeSync(101, JSON.stringify({ kind: 'ready' }) + '\n');
})();
