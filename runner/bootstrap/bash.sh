# warmbox pre-start bootstrap for bash, run as `bash -c THIS`. It says it
# is loaded on fd 101, reads the whole command line from fd 100 (each
# argument ended by a NUL byte), closes both and execs it: the program
# then starts exactly as it would cold, in a fresh bash.
printf r >&101
exec 101>&-
mapfile -t -d '' -u 100 argv
exec 100<&-
[ "${#argv[@]}" -gt 0 ] || exit 0
exec "${argv[@]}"
