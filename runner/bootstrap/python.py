# warmbox pre-start bootstrap for Python 3, run as `python3 -c THIS`.
#
# It loads the interpreter, says so on fd 101, then waits on fd 100 for
# the job: the entry and its args, each ended by a NUL byte. It then runs
# the entry the way `python3 ENTRY ARGS` would (pymain_run_file in
# Modules/main.c and _PyRun_SimpleFileObject in Python/pythonrun.c): in
# the real __main__ module, with sys.argv, sys.path[0], __file__ and the
# main loader set, and an uncaught exception printed by sys.excepthook
# without this file's frames, then exit status 1. An entry that Python
# would not run as source is handed to a fresh interpreter (execv).
#
# With modules to preload (languages.NAME.preload, after THIS on the
# command line), they are imported before the ready signal: the job finds
# them in sys.modules (an `import numpy` costs nothing), along with what
# they imported, and their import-time side effects have happened (a
# matplotlib backend chosen, warnings filters set, numpy's threads
# started).
#
# What differs from a cold start: this function's frame and the -c
# module's sit below the program's module frame, where inspect.stack(),
# traceback.print_stack(), sys._getframe(n) and a warning whose
# stacklevel reaches past the module can see them; the source is read
# before sys.argv is set, not after; the objects the interpreter made
# while it started are frozen (gc.freeze), so gc.get_freeze_count() is
# not 0, gc.get_objects() and gc.get_referrers() leave them out, and the
# program's first gc.collect() does not count the few objects of
# garbage a cold start leaves while it starts (they are never freed).
#
# Everything lives in one function: its names must not outlive the
# clearing of __main__'s dict, which becomes the program's globals.
def _warmbox_bootstrap():
    import os
    import sys

    # Two costs a cold start pays on every run, paid here ahead of the
    # job: the first compile() of a process sets up the parser (about
    # half a millisecond), and the collections at exit walk every object
    # the interpreter made while it started (modules, their functions
    # and classes: alive until exit anyway) for about as long again.
    # Frozen, those objects are left out of every collection.
    compile("pass", "<warmbox>", "exec", dont_inherit=True)
    # The modules to preload (languages.NAME.preload) follow this script
    # on the command line. Nothing they print may reach the job's
    # streams (fds 1 and 2 are the job's pipes already), and one that
    # fails to import is left for the job to import (and fail) itself.
    preload = sys.argv[1:]
    if preload:
        saved = os.dup(1), os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        for name in preload:
            try:
                __import__(name)
            except Exception:
                pass
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (null, *saved):
            os.close(fd)
    import gc

    del sys.modules["gc"]  # a cold start has not imported it
    gc.freeze()

    os.write(101, b"r")
    os.close(101)
    chunks = []
    while True:
        chunk = os.read(100, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(100)
    argv = [os.fsdecode(f) for f in b"".join(chunks).split(b"\0")[:-1]]
    if not argv:
        os._exit(0)  # the runner let go of us without a job

    entry = argv[0]
    # config->run_filename is made absolute, not resolved; sys.path[0] is
    # the resolved directory of the script.
    path = entry if os.path.isabs(entry) else os.path.join(os.getcwd(), entry)
    cold = sys.orig_argv[: len(sys.orig_argv) - 2 - len(preload)] + argv  # drop "-c", THIS, the preloads
    external = sys.modules["_frozen_importlib_external"]
    with open(path, "rb") as f:
        source = f.read()
    # An entry Python runs as a zip archive or a directory (its
    # __main__), or as compiled code: leave it to the interpreter itself.
    if (
        external.PathFinder._path_importer_cache(path) is not None  # as pymain_get_importer
        or path.endswith(".pyc")
        or source[:2] == external.MAGIC_NUMBER[:2]  # as maybe_pyc_file
    ):
        os.execv(sys.executable, cold)
    sys.argv = argv
    sys.orig_argv = cold
    sys.path[0] = os.path.dirname(os.path.realpath(entry))

    d = sys.modules["__main__"].__dict__
    builtins = d["__builtins__"]
    d.clear()
    d.update(
        __name__="__main__",
        __doc__=None,
        __package__=None,
        __loader__=external.SourceFileLoader("__main__", path),
        __spec__=None,
        __annotations__={},
        __builtins__=builtins,
        __file__=path,
        __cached__=None,
    )
    ours = {sys._getframe().f_code, sys._getframe(1).f_code}

    def flush_io():
        for f in (sys.stderr, sys.stdout):
            try:
                f.flush()
            except BaseException:
                pass

    def forget_file():
        d.pop("__file__", None)
        d.pop("__cached__", None)

    try:
        exec(compile(source, path, "exec", dont_inherit=True), d)
    except SystemExit:
        flush_io()
        raise  # PyErr_Print exits with its code, as for a script
    except BaseException as e:
        flush_io()
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code in ours:
            tb = tb.tb_next
        hook = sys.excepthook

        # PyErr_Print calls sys.excepthook with the traceback as it left
        # the -c code; hand the program's hook the program's part only.
        def excepthook(t, v, _):
            sys.excepthook = hook
            sys.last_traceback = tb
            if isinstance(v, BaseException):
                v.__traceback__ = tb
            hook(t, v, tb)
            forget_file()

        sys.excepthook = excepthook
        raise
    flush_io()
    forget_file()


_warmbox_bootstrap()
