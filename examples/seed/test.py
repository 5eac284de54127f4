"""The program of the circus bug reproduction, for Python 3.

It catches every signal that can be caught, prints "[pid:N] sleeping" once a
second, and on a signal prints "[pid:N] Received SIGNUM" and exits. Run
under a supervisor, it shows who receives the stop signal, and whether its
last words reach the log.
"""

import os
import signal
import sys
import time

PID = os.getpid()


def received(signum, frame):
    print(f"[pid:{PID}] Received {signum}", flush=True)
    sys.exit(0)


for sig in signal.valid_signals():
    if sig in (signal.SIGKILL, signal.SIGSTOP):
        continue
    try:
        signal.signal(sig, received)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"[pid:{PID}] Skipping {sig} due to {exc}", flush=True)

while True:
    print(f"[pid:{PID}] sleeping", flush=True)
    time.sleep(1)
