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
seen=""  # every pid of the program this script saw, checked at the end
python_pid() {  # sets $pid to test.py's pid (under the shell that runs it)
    leader=$("$CORRAL" -c test.ini status --json |
        sed -n 's/.*"pid": \([0-9][0-9]*\).*/\1/p' | head -n 1)
    pid=$(pgrep -P "$leader" python3 || echo "$leader")
    seen="$seen $leader $pid"
}
wait_lines() {  # wait until the log has grown by N lines
    target=$(( $(wc -l < logs/test.log) + $1 ))
    while [ "$(wc -l < logs/test.log)" -lt "$target" ]; do sleep 0.2; done
}
cleanup() { "$CORRAL" -c test.ini down >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "The circus reproduction: told to stop or restart a watcher run through"
echo "/bin/sh (shell = True), circus 0.12/0.13 signalled the shell, orphaned"
echo "test.py, dropped its last line (\"Received 15\") and started a second"
echo "copy beside the orphan. Here is the same test.ini under corral."

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
python_pid
echo "\$ kill -15 $pid"
kill -15 "$pid"
wait_lines 2
tail -n 3 logs/test.log
run status

say "signals are checked before anything is touched, then reach the group"
run signal test NOPE || true
python_pid
run signal test HUP
wait_lines 1
grep -F "[pid:$pid] Received 1" logs/test.log || true

say "down: every program stopped, nothing left"
python_pid
trap - EXIT
run down
for pid in $seen; do
    if kill -0 "$pid" 2>/dev/null; then
        echo "something was left running: pid $pid" >&2
        exit 1
    fi
done
echo "no test.py process is left."
if grep -q -e "Broken pipe" -e "Received 13" -e Traceback logs/test.log logs/test.err.log
then
    echo "but the logs show a broken pipe or a traceback" >&2
    exit 1
fi
echo "no broken pipe (SIGPIPE, 'Received 13') and no traceback in the logs."
