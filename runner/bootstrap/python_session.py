# warmbox session interpreter for Python 3, run as `python3 -c THIS`.
#
# A session keeps one interpreter for many runs (cells), so that names,
# imports and open files persist between them. The runner writes each
# cell's source to fd 100, ended by a NUL byte; the interpreter answers
# on fd 101 with one JSON line per event: {"kind": "ready"} once loaded,
# then after every cell {"kind": "done", "value": TEXT or null, "error":
# {"name", "value", "traceback"} or null}. The cell's own output goes to
# stdout and stderr as usual (line-buffered, so that it streams); after
# it, before "done", the end-of-cell marker is written on fds 1 and 2,
# so that the runner knows all of the cell's output has come.
#
# As in Jupyter, when a cell ends with an expression its value is the
# cell's value (repr, None gives none), and `_` names it; an uncaught
# exception is reported with the traceback of the cell's own frames and
# the session lives on (a KeyboardInterrupt is what a cell that ran past
# its timeout gets first). SystemExit ends the session, with its code:
# no "done" is written for that cell.
def _warmbox_session():
    import ast
    import json
    import linecache
    import os
    import sys
    import traceback

    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)
    main = sys.modules["__main__"]
    ns = main.__dict__
    builtins = ns["__builtins__"]
    ns.clear()
    ns.update(__name__="__main__", __doc__=None, __package__=None, __spec__=None,
              __loader__=None, __builtins__=builtins)
    sys.argv = [""]
    sys.path[0] = ""
    ours = {sys._getframe().f_code}

    def emit(event):
        data = (json.dumps(event) + "\n").encode()
        while data:
            data = data[os.write(101, data):]

    marker = b"\0\x1ewarmbox-cell-done\x1e\0"

    def flush():
        for f in (sys.stdout, sys.stderr):
            try:
                f.flush()
            except BaseException:
                pass

    def finish(event):
        flush()
        for fd in (1, 2):
            try:
                os.write(fd, marker)
            except OSError:
                pass  # the cell closed it: nothing of it can be missed
        emit(event)

    def describe(e):
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code in ours:
            tb = tb.tb_next
        e.__traceback__ = tb
        if isinstance(e, SyntaxError):  # the parser's frames are not the cell's
            text = "".join(traceback.format_exception_only(type(e), e))
        else:
            text = "".join(traceback.format_exception(type(e), e, tb))
        return {"name": type(e).__name__, "value": str(e), "traceback": text}

    def run(source, n):
        name = "<cell %d>" % n
        linecache.cache[name] = (len(source), None, source.splitlines(True), name)
        tree = ast.parse(source, name, "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, name, "exec"), ns)
        if last is None:
            return None
        value = eval(compile(last, name, "eval"), ns)
        if value is None:
            return None
        ns["_"] = value
        return repr(value)

    ours.add(run.__code__)
    os.write(101, b'{"kind": "ready"}\n')
    pending = b""
    n = 0
    while True:
        try:
            while b"\0" not in pending:
                chunk = os.read(100, 65536)
                if not chunk:
                    return 0  # the runner let go of the session
                pending += chunk
        except KeyboardInterrupt:
            continue  # an interrupt that came between cells
        raw, pending = pending.split(b"\0", 1)
        n += 1
        event = {"kind": "done", "value": None, "error": None}
        try:
            event["value"] = run(raw.decode("utf-8", "replace"), n)
        except SystemExit:
            # The session ends with the interpreter: no "done"; the
            # runner sees the event pipe close and reports the exit.
            flush()
            raise
        except BaseException as e:
            event["error"] = describe(e)
        finish(event)


_warmbox_session()
