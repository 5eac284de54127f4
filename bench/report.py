"""RESULTS.md: the machine, the versions, the settings and the figures."""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness import Series, run
from scenarios import ORDER, Metric
from systems import CORRAL, ENV_BIN, KINDS

KEEP_FROM = "## What stands in the way"


def machine() -> dict[str, str]:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    with open("/proc/cpuinfo") as f:
        virt = " (virtual machine)" if " hypervisor" in f.read() else ""
    return {
        "cpu": cpu + virt,
        "cores": str(os.cpu_count()),
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "/bin/sh": os.path.realpath("/bin/sh"),
    }


def versions() -> dict[str, str]:
    def first_line(argv: list[str]) -> str:
        return run(argv, check=False).output.strip().splitlines()[0]

    env_python = first_line([str(ENV_BIN / "python"), "--version"])
    return {
        "corral": first_line([str(CORRAL), "--version"]).split()[-1]
        + f" (Python {platform.python_version()}, {sys.prefix})",
        "circus": first_line([str(ENV_BIN / "circusd"), "--version"])
        + f" ({env_python}, bench/.env)",
        "supervisord": first_line([str(ENV_BIN / "supervisord"), "--version"])
        + f" ({env_python}, bench/.env)",
    }


# ---------------------------------------------------------------------------


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("ms", "MB/s", "MiB") and abs(value) >= 100:
        text = f"{value:,.0f}"
    elif unit == "ms" and abs(value) >= 10:
        text = f"{value:.1f}"
    elif unit in ("s", "ms"):
        text = f"{value:.3g}" if value < 1 else f"{value:.2f}"
    elif unit == "":
        text = f"{value:g}"
    else:
        text = f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return f"{text} {unit}".strip() if unit not in ("", "%") else f"{text}{unit}"


def anchors(m: Metric) -> dict[str, Series]:
    return {k: s for k, s in m.series.items()
            if k != "corral" and k != m.reference and s.values}


def best_anchor(m: Metric) -> tuple[str, float] | None:
    found = [(k, s.median) for k, s in anchors(m).items() if s.median is not None]
    if not found:
        return None
    pick = min if m.lower_is_better else max
    return pick(found, key=lambda kv: kv[1])


def verdict(m: Metric) -> str:
    corral = m.series.get("corral")
    if m.check is None or corral is None or corral.median is None:
        if m.target == "constant" and corral is not None and corral.values:
            return "yes" if len(set(corral.values)) == 1 else "**no**"
        return ""
    best = best_anchor(m)
    ref = m.series.get(m.reference or "")
    met = m.check(corral.median, best[1] if best else None,
                  ref.median if ref else None)
    return "yes" if met else "**no**"


def ratio(m: Metric) -> str:
    corral = m.series.get("corral")
    if not m.unit:
        return "—"
    best = best_anchor(m)
    if corral is None or corral.median is None or best is None or not best[1]:
        return "—"
    return f"{corral.median / best[1]:.3g} ({best[0]})"


def cell(m: Metric, name: str) -> str:
    s = m.series.get(name)
    if s is None or (not s.values and not s.failures):
        return "—"
    if not s.values:
        return f"failed ({s.note})"
    text = fmt(s.median, m.unit)
    if m.unit == "" and s.low != s.high:
        text = f"{fmt(s.low, '')}–{fmt(s.high, '')}"
    ref = m.series.get(m.reference or "") if m.reference == "cat" else None
    if ref is not None and ref.median and s.median is not None:
        text += f" ({s.median / ref.median:.2f} × cat)"
    if s.failures:
        text += f" ({s.failures} failed)"
    return text


def summary(metrics: list[Metric]) -> list[str]:
    rows = ["| measure | circus | supervisord | corral | corral / best anchor "
            "| target | met |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for m in metrics:
        circus = cell(m, "circus")
        tuned = m.series.get("circus-tuned")
        if tuned is not None and tuned.values:
            circus += f"; check_delay 0.1: {fmt(tuned.median, m.unit)}"
        target = m.target
        ref = m.series.get(m.reference or "")
        if m.reference and m.reference != "cat" and ref is not None and ref.values:
            floor = f"{m.reference}: {fmt(ref.median, m.unit)}"
            target = f"{target} ({floor})" if target else floor
        rows.append(f"| {m.title} | {circus} | {cell(m, 'supervisord')} | "
                    f"{cell(m, 'corral')} | {ratio(m)} | {target} | "
                    f"{verdict(m)} |")
    return rows


def details(m: Metric) -> list[str]:
    lines = [f"### {m.title}", ""]
    if m.note:
        lines += [m.note, ""]
    lines += ["| system | median | min | max | samples | failures |",
              "| --- | --- | --- | --- | --- | --- |"]
    names = [n for n in (*ORDER, *m.series) if n in m.series]
    for name in dict.fromkeys(names):
        s = m.series[name]
        fails = f"{s.failures}: {s.note}" if s.failures else "0"
        lines.append(f"| {name} | {fmt(s.median, m.unit)} | {fmt(s.low, m.unit)} | "
                     f"{fmt(s.high, m.unit)} | {len(s.values)} | {fails} |")
    return [*lines, ""]


def write(path: Path, metrics: list[Metric], settings: dict[str, str],
          meta: dict[str, Any], failures: list[str]) -> None:
    kept = ""
    if path.exists():
        old = path.read_text()
        if KEEP_FROM in old:
            kept = old[old.index(KEEP_FROM):]
    mach = machine()
    vers = versions()
    out = [
        "# corral, circus and supervisord, side by side",
        "",
        f"Written by `./dev bench{meta['args']}` on {meta['date']} "
        f"({meta['duration']:.0f} s). How each figure is taken, and why: "
        "[README.md](README.md). Medians, with min and max below; every "
        "system ran on the same machine in the same run, in rounds "
        "(corral, circus, supervisord, corral, ...).",
        "",
        "## Summary",
        "",
        *summary(metrics),
        "",
    ]
    if failures:
        out += ["Scenarios that could not be measured:", "",
                *(f"- {f}" for f in failures), ""]
    out += ["## Machine", "", "| | |", "| --- | --- |",
            *(f"| {k} | {v} |" for k, v in mach.items()),
            f"| load average (1, 5, 15 min) | {meta['load']} |", "",
            "## Versions", "", "| | |", "| --- | --- |",
            *(f"| {k} | {v} |" for k, v in vers.items()), "",
            "## Settings", "", "| system | settings |", "| --- | --- |",
            *(f"| {k} | {v} |" for k, v in settings.items()), "",
            f"Rounds per scenario: {meta['rounds']}.", "",
            "## Details", ""]
    for m in metrics:
        out += details(m)
    text = "\n".join(out)
    if kept:
        text += "\n" + kept
    path.write_text(text.rstrip() + "\n")


def dump(path: Path, metrics: list[Metric], meta: dict[str, Any]) -> None:
    data = {
        "meta": meta,
        "machine": machine(),
        "metrics": [
            {"key": m.key, "title": m.title, "unit": m.unit,
             "lower_is_better": m.lower_is_better, "target": m.target,
             "series": {k: asdict(s) for k, s in m.series.items()}}
            for m in metrics
        ],
    }
    path.write_text(json.dumps(data, indent=1) + "\n")


def plain(metrics: list[Metric]) -> str:
    """The summary for the terminal."""
    return re.sub(r"\*\*", "", "\n".join(summary(metrics)))


__all__ = ["KINDS", "dump", "plain", "write"]
