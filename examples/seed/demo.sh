#!/bin/sh
# The circus bug reproduction, replayed under corral.
#
# test.ini runs test.py through /bin/sh (shell = True), as in the report.
# circus signalled the shell, orphaned the program and lost its last line;
# here every step shows the program itself receiving the signal, its last
# words in the log, and nothing left behind.
set -eu
cd "$(dirname "$0")"
CORRAL=${CORRAL:-../../.venv/bin/corral}

say() { printf '\n== %s\n' "$*"; }
run() { printf '$ corral %s\n' "$*"; "$CORRAL" -c test.ini "$@"; }
python_pid() {
    leader=$("$CORRAL" -c test.ini status --json |
        sed -n 's/.*"pid": \([0-9][0-9]*\).*/\1/p' | head -n 1)
    pgrep -P "$leader" python3 || echo "$leader"
}
wait_lines() {  # wait until the log has grown by N lines
    target=$(( $(wc -l < logs/test.log) + $1 ))
    while [ "$(wc -l < logs/test.log)" -lt "$target" ]; do sleep 0.2; done
}
cleanup() { "$CORRAL" -c test.ini down >/dev/null 2>&1 || true; }
trap cleanup EXIT

rm -rf logs
say "start the daemon and the watcher of test.ini"
run up --detach
mkdir -p logs && touch logs/test.log
wait_lines 2
run status

say "stop: the program itself receives SIGTERM and its last line is kept"
run stop test
tail -n 2 logs/test.log

say "start, then restart: the old generation says goodbye, one new one runs"
run start test
wait_lines 1
run restart test
wait_lines 1
tail -n 3 logs/test.log

say "kill -15 of the Python process alone: last line kept, program restarted"
pid=$(python_pid)
echo "\$ kill -15 $pid"
kill -15 "$pid"
wait_lines 2
tail -n 3 logs/test.log
run status

say "signals are checked before anything is touched"
run signal test NOPE || true
run signal test HUP
wait_lines 1

say "down: every program stopped, nothing left"
trap - EXIT
run down
if pgrep -f "python3 test.py" >/dev/null; then
    echo "something was left running" >&2
    exit 1
fi
echo "no test.py process is left; errors in the log:"
grep -c -e "Broken pipe" -e "Received 13" -e Traceback logs/test.log logs/test.err.log || true
