"""Human-readable tables for `corral status`."""

from __future__ import annotations

import time
from typing import Any

STATE_COLOURS = {
    "running": "32",
    "starting": "36",
    "stopping": "33",
    "backoff": "33",
    "fatal": "31",
    "exited": "35",
    "stopped": "2",
}


def duration(seconds: float | None) -> str:
    """3s, 4m05s, 2h07m, 3d04h."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def render_status(processes: list[dict[str, Any]], colour: bool) -> str:
    """One row per process: name, pid, state, uptime, restarts, last exit."""
    header = ["NAME", "PID", "STATE", "UPTIME", "RESTARTS", "LAST EXIT", "INFO"]
    rows = []
    now = time.time()
    for p in processes:
        info = p.get("reason") or ""
        if p.get("output_error"):
            info = f"output: {p['output_error']} ({p['dropped_bytes']} bytes lost)"
        if p["state"] in ("stopped", "exited", "fatal") and not info:
            info = f"since {duration(now - p['since'])}"
        rows.append([
            p["name"],
            str(p["pid"]) if p["pid"] else "-",
            p["state"],
            duration(p.get("uptime")),
            str(p["restarts"]),
            p.get("exit") or "-",
            info,
        ])
    if not rows:
        return "no programs"
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for i, row in enumerate([header, *rows]):
        cells = [cell.ljust(widths[j]) for j, cell in enumerate(row)]
        if colour and i > 0:
            code = STATE_COLOURS.get(row[2])
            if code:
                cells[2] = f"\x1b[{code}m{cells[2]}\x1b[0m"
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
