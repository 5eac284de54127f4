"""Benchmark corral against circus and supervisord: `./dev bench`.

    ./dev bench                 every scenario, writes bench/RESULTS.md
    ./dev bench --quick         a smoke run (fewer, shorter samples)
    ./dev bench --only stop     one scenario (repeat --only, or use commas)

circus and supervisord are installed from PyPI into bench/.env, never into
the project's environment. Partial runs (--quick, --only) write
bench/work/RESULTS.md so that bench/RESULTS.md always holds a full run.
Scenarios, methods and settings: bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import BenchError, Janitor  # noqa: E402
from scenarios import SCENARIOS, Context, Metric  # noqa: E402

ENV = HERE / ".env"
WORK = HERE / "work"
# What bench/.env holds: the two anchors, pinned, and the profilers used
# for the "What stands in the way" section of RESULTS.md.
REQUIREMENTS = ["circus==0.19.0", "supervisor==4.3.0", "py-spy==0.4.3",
                "pyinstrument==5.1.3"]


def ensure_env() -> None:
    """Create bench/.env with the pinned anchors, once."""
    stamp = ENV / ".requirements"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if stamp.exists() and stamp.read_text() == wanted:
        return
    print(f"bench: installing {', '.join(REQUIREMENTS)} into {ENV}", flush=True)
    if not (ENV / "bin" / "python").exists():
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(ENV)], check=True)
    subprocess.run([str(ENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", *REQUIREMENTS], check=True)
    stamp.write_text(wanted)


def compile_corral() -> None:
    """Give corral's modules their bytecode, as installing a wheel does.

    corral is installed in editable mode, and with PYTHONDONTWRITEBYTECODE
    set (as it is on this project's machines) nothing ever writes its .pyc
    files: every `corral` command would compile its modules from source,
    while circus and supervisord, installed by pip, have theirs. The cache
    goes where Python looks for it (__pycache__, ignored by git).
    """
    import compileall

    import corral

    compileall.compile_dir(Path(corral.__file__).parent, quiet=1)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="./dev bench", description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a fast smoke run: fewer and shorter samples")
    parser.add_argument("--only", action="append", default=[], metavar="SCENARIO",
                        help="run only these scenarios: " + ", ".join(SCENARIOS))
    parser.add_argument("--runs", type=int, metavar="N",
                        help="measured rounds per scenario (overrides defaults)")
    parser.add_argument("--out", type=Path, metavar="FILE",
                        help="where to write the results (default: see above)")
    args = parser.parse_args(argv)
    chosen = [name for item in args.only for name in item.split(",") if name]
    for name in chosen:
        if name not in SCENARIOS:
            parser.error(f"unknown scenario {name!r}; choose from "
                         + ", ".join(SCENARIOS))
    args.scenarios = [n for n in SCENARIOS if n in chosen or not chosen]
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str]) -> int:
    args = parse(argv)
    ensure_env()
    compile_corral()
    # Enough descriptors for 1,000 processes' pipes in every daemon.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 16384)), hard))
    # Ctrl-C cleans up even where SIGINT came in ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGHUP, _interrupted)

    janitor = Janitor()
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    shm = Path("/dev/shm") / f"corral-bench-{janitor.token[:12]}"
    ctx = Context(janitor=janitor, work=WORK, shm=shm, quick=args.quick,
                  runs=args.runs, log=lambda text: print(text, flush=True))
    started = time.monotonic()
    load_before = os.getloadavg()
    metrics: list[Metric] = []
    failures: list[str] = []
    status = 0
    try:
        for name in args.scenarios:
            print(f"bench: {name}", flush=True)
            began = time.monotonic()
            try:
                metrics.extend(SCENARIOS[name](ctx))
                print(f"bench: {name} took {time.monotonic() - began:.0f} s",
                      flush=True)
            except BenchError as exc:
                failures.append(f"{name}: {exc}")
                print(f"bench: {name} failed: {exc}", file=sys.stderr, flush=True)
                status = 1
            finally:
                _clean(ctx)
    except KeyboardInterrupt:
        print("\nbench: interrupted; cleaning up", file=sys.stderr, flush=True)
        _clean(ctx)
        return 130
    finally:
        _clean(ctx)
        shutil.rmtree(shm, ignore_errors=True)

    partial = args.quick or args.scenarios != list(SCENARIOS) or args.runs
    out = args.out or (WORK / "RESULTS.md" if partial else HERE / "RESULTS.md")
    flags = "".join(f" {a}" for a in argv)
    meta = {
        "args": flags,
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "duration": time.monotonic() - started,
        "rounds": _rounds_text(args.quick, args.runs),
        "load": "{:.2f} {:.2f} {:.2f} before, {:.2f} {:.2f} {:.2f} after".format(
            *load_before, *os.getloadavg()),
    }
    from report import dump, plain, write
    from systems import SETTINGS

    write(out, metrics, SETTINGS, meta, failures)
    dump(out.with_name("results.json"), metrics, meta)
    print()
    print(plain(metrics))
    print(f"\nbench: {len(metrics)} figures in {meta['duration']:.0f} s; "
          f"written to {os.path.relpath(out)}")
    return status


def _rounds_text(quick: bool, runs: int | None) -> str:
    if runs is not None:
        return f"{runs} measured round(s) each, after one warm-up round"
    if quick:
        return ("quick: 1 measured round (status: 5), no warm-up; start up to 200 "
                "processes; output 64 MB; idle 1 window of 5 s; storm 1 round of 2 s")
    return ("one warm-up round, then 7 measured rounds (stop, respawn, output), "
            "20 (status), 7 / 5 / 3 (start 1 / 200 / 1,000, the last without "
            "warm-up); idle 3 windows of "
            "30 s; storm 3 rounds of 10 s")


def _clean(ctx: Context) -> None:
    """Shut down what is still up, then end every marked leftover by pid."""
    for system in list(ctx.live):
        try:
            system.shutdown(grace=10)
        except Exception as exc:  # cleanup goes on whatever one system does
            print(f"bench: shutting down {system.name}: {exc}", file=sys.stderr)
        ctx.live.remove(system)
    left = ctx.janitor.sweep()
    if left:
        print(f"bench: killed {len(left)} leftover process(es): "
              f"{', '.join(map(str, left[:20]))}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
