"""A test program that prints a burst of lines on demand, as fast as it can.

    burst.py GO_FIFO READY_FIFO TOTAL_BYTES

It announces itself on READY_FIFO ("ready PID"), then waits for a line on
GO_FIFO. On "go" it writes TOTAL_BYTES to stdout as 100-byte lines in
64,000-byte writes (640 lines each), says "done PID" on READY_FIFO and waits
for the next "go". On "quit" or end of file it exits.
"""

from __future__ import annotations

import os
import sys

LINE = 100
LINES_PER_WRITE = 640


def block() -> bytes:
    lines = [b"%08d " % i + b"x" * (LINE - 10) + b"\n"
             for i in range(LINES_PER_WRITE)]
    data = b"".join(lines)
    assert len(data) == LINE * LINES_PER_WRITE
    return data


def write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data):]


def main() -> int:
    go_path, ready_path, total_text = sys.argv[1:4]
    total = int(total_text)
    data = memoryview(block())
    if total % len(data):
        print(f"TOTAL_BYTES must be a multiple of {len(data)}", file=sys.stderr)
        return 2
    writes = total // len(data)
    pid = os.getpid()
    ready = os.open(ready_path, os.O_WRONLY)
    go = open(go_path, "rb", buffering=0)  # noqa: SIM115 (kept for the life of the program)
    os.write(ready, b"ready %d\n" % pid)
    while True:
        line = go.readline()
        if not line or line.strip() == b"quit":
            return 0
        for _ in range(writes):
            write_all(1, data)
        os.write(ready, b"done %d\n" % pid)


if __name__ == "__main__":
    sys.exit(main())
