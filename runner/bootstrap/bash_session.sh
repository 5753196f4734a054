# warmbox session interpreter for bash, run as `bash -c THIS`. A session
# keeps one shell for many runs (cells): variables, functions, aliases,
# the working directory and exported names persist. Each cell's source
# comes on fd 100, ended by a NUL byte, and runs in this shell (eval);
# after it, one JSON line on fd 101 says it is done, with its exit
# status: {"kind": "done", "exit_code": N}, after the end-of-cell marker
# on fds 1 and 2 (so that the runner knows all of the cell's output has
# come). `exit` in a cell ends the session, as it would end a terminal's
# shell.
# The interrupt at a cell's timeout stops the command running (sleep,
# a program); the shell itself lives on. A loop of builtins cannot be
# interrupted: the runner ends the session a second later.
trap : INT
printf '{"kind":"ready"}\n' >&101
while IFS= read -r -d '' -u 100 __warmbox_cell; do
  eval "$__warmbox_cell" 100<&- 101>&-
  __warmbox_status=$?
  printf '\0\036warmbox-cell-done\036\0' 2>/dev/null
  printf '\0\036warmbox-cell-done\036\0' >&2 2>/dev/null
  printf '{"kind":"done","exit_code":%d}\n' "$__warmbox_status" >&101
done
