"""The `corral` command line: one handler per command.

Commands that talk to a daemon import only `client` (a raw socket and
json); `up` and `check` import the config readers and the daemon. The
plainest `corral status` skips even argparse and json: the daemon renders
the table, so the command costs little more than the interpreter's start.
Every error of the `CorralError` family is printed as one line, with the
exit status it carries:

    0  done (also `status` when programs are stopped on purpose)
    1  the action failed (and `status` when a process is fatal or backing off)
    2  a usage error or an unknown name
    3  no daemon is running
"""

from __future__ import annotations

import os
import sys

from corral import __version__
from corral.errors import CorralError, UsageError

# typing costs milliseconds to import; only the type checker needs it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

STATE_DIR = ".corral"
SOCKET = "corral.sock"


def _common(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("-c", "--config", metavar="FILE", default=default,
                        help="config file (default ./corral.toml, then $CORRAL_CONFIG)")
    parser.add_argument("--socket", metavar="PATH", default=default,
                        help="control socket of the daemon (or $CORRAL_SOCKET); "
                        "http://127.0.0.1:PORT for a TCP listener, with the token "
                        "in $CORRAL_TOKEN")


def build_parser() -> argparse.ArgumentParser:
    import argparse
    from typing import NoReturn

    class Parser(argparse.ArgumentParser):
        """argparse, with usage errors as one line and exit status 2."""

        def error(self, message: str) -> NoReturn:
            raise UsageError(f"{message} (see '{self.prog} --help')")

    parser = Parser(prog="corral", description="Start programs, keep them "
                    "running, capture their output, stop them correctly.")
    parser.add_argument("--version", action="version", version=f"corral {__version__}")
    _common(parser, None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_,
                                                    description=help_)
        _common(p, argparse.SUPPRESS)
        return p

    p = command("up", "start the daemon and every program with autostart")
    p.add_argument("--detach", "-d", action="store_true",
                   help="run in the background; output goes to the state directory")

    command("down", "stop every program (dependents first), then the daemon")

    p = command("status", "show every process: pid, state, uptime, restarts")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--json", action="store_true", help="print a JSON list")

    for name, text in (("start", "start programs and wait until they run"),
                       ("stop", "stop programs and wait until nothing is left"),
                       ("restart", "stop, then start; wait until they run")):
        p = command(name, text)
        p.add_argument("names", nargs="*", metavar="NAME")
        p.add_argument("--all", action="store_true", help="every program")

    p = command("signal", "send a signal to a program (its process group by default)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("signal", metavar="SIGNAL", help="a name (HUP, SIGHUP) or number")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--main", dest="target", action="store_const", const="main",
                        help="only the process corral started")
    target.add_argument("--group", dest="target", action="store_const", const="group",
                        help="its process group (default)")
    target.add_argument("--tree", dest="target", action="store_const", const="tree",
                        help="its group and every descendant, wherever it went")

    p = command("logs", "print (and follow) captured output")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing")
    p.add_argument("-n", "--lines", type=int, default=10, metavar="N",
                   help="how many lines to print first (default 10)")
    p.add_argument("--stderr", action="store_true", help="stderr instead of stdout")
    p.add_argument("--reopen", action="store_true",
                   help="reopen every log file (after an external rotation)")

    command("reload", "apply config changes; restart only what changed")

    p = command("scale", "change the number of processes of a program")
    p.add_argument("name", metavar="NAME")
    p.add_argument("count", metavar="N", type=int)

    p = command("check", "validate a config file and show what it runs")
    p.add_argument("file", nargs="?", metavar="FILE",
                   help="the file to check (default: as -c)")
    return parser


# ---------------------------------------------------------------------------
# Finding the daemon


def config_path(args: argparse.Namespace | _Args) -> str:
    """The config file named by -c, ./corral.toml or $CORRAL_CONFIG."""
    if args.config:
        return str(args.config)
    if os.path.exists("corral.toml"):
        return "corral.toml"
    env = os.environ.get("CORRAL_CONFIG")
    if env:
        return env
    raise UsageError("no config file: pass -c FILE, set CORRAL_CONFIG, "
                     "or run where corral.toml is")


def socket_path(args: argparse.Namespace | _Args) -> str:
    """The daemon's socket: --socket, -c, $CORRAL_SOCKET, then the default config."""
    return locate(args)[0]


def locate(args: argparse.Namespace | _Args) -> tuple[str, str | None]:
    """The daemon's socket, and the config it was found through (absolute),
    or None when the socket was named directly."""
    if args.socket is not None:
        return str(args.socket), None
    if not args.config and os.environ.get("CORRAL_SOCKET"):
        return os.environ["CORRAL_SOCKET"], None
    try:
        path = config_path(args)
    except UsageError:
        # No config here, but a daemon may still run for one that was
        # removed: its socket is where the default state directory is.
        if os.path.exists(os.path.join(STATE_DIR, SOCKET)):
            return os.path.abspath(os.path.join(STATE_DIR, SOCKET)), None
        raise
    return os.path.join(_state_dir(path), SOCKET), os.path.abspath(path)


def _state_dir(path: str) -> str:
    """The state directory of a config, reading the file only if needed."""
    base = os.path.dirname(os.path.abspath(path))
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        # Unreadable now (removed, replaced by a directory): its daemon may
        # still run, and `status` or `down` must reach it.
        fallback = os.path.join(base, STATE_DIR)
        if os.path.exists(os.path.join(fallback, SOCKET)):
            return fallback
        raise UsageError(f"cannot read config {path}: {exc.strerror}") from None
    lower = path.lower()
    other = lower.endswith((".ini", ".conf")) or os.path.basename(lower) == "procfile"
    if b"state_dir" not in raw or other:
        return os.path.join(base, STATE_DIR)
    simple = _simple_state_dir(raw)
    if simple is not None:
        return os.path.normpath(os.path.join(base, simple))
    import tomllib

    try:
        data = tomllib.loads(raw.decode())
    except (ValueError, UnicodeDecodeError):
        return os.path.join(base, STATE_DIR)
    value = data.get("corral", {}).get("state_dir", STATE_DIR)
    if not isinstance(value, str):
        value = STATE_DIR
    return os.path.normpath(os.path.join(base, value))


def _simple_state_dir(raw: bytes) -> str | None:
    """`state_dir = "…"` under [corral], found without a TOML parser.

    tomllib (and the `re` it imports) costs more than a whole status
    request; this covers the plain spelling and gives up (None) on anything
    else, which then goes to tomllib.
    """
    table = ""
    for line in raw.decode(errors="replace").split("\n"):
        text = line.strip()
        if text.startswith("["):
            table = text
            continue
        if table != "[corral]" or not text.startswith("state_dir"):
            continue
        key, equals, value = text.partition("=")
        value = value.strip()
        if key.strip() != "state_dir" or not equals or value[:1] not in ("'", '"'):
            return None
        end = value.find(value[0], 1)
        inner = value[1:end]
        after = value[end + 1 :].strip()
        if end < 0 or "\\" in inner or (after and not after.startswith("#")):
            return None
        return inner
    return None


def _client(args: argparse.Namespace, timeout: float | None = None) -> Any:
    from corral.client import Client

    path, config = locate(args)
    return Client(path, timeout, os.environ.get("CORRAL_TOKEN"), config)


# Requests that only read answer at once; anything longer is a stuck daemon.
QUICK_TIMEOUT = 30.0


def _err(text: str) -> None:
    print(f"corral: {text}", file=sys.stderr)


# ---------------------------------------------------------------------------
# Commands


def cmd_up(args: argparse.Namespace) -> int:
    # Hold stop signals until the daemon's handlers exist: a SIGTERM while
    # corral itself is still loading must stop it gracefully, not kill it.
    import signal

    signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    from corral.daemon import up

    return up(config_path(args), args.detach)


HELD_SIGNALS = (15, 2, 1)  # SIGTERM, SIGINT, SIGHUP: numbers save an import


def _release_held_signals() -> None:
    """Undo the launcher's hold when the word "up" was not the command."""
    import signal

    signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)


def cmd_check(args: argparse.Namespace) -> int:
    from corral.config import load

    path = getattr(args, "file", None) or config_path(args)
    try:
        config = load(path)
    except CorralError as exc:
        print(exc, file=sys.stderr)
        return 1
    from corral.checks import describe, warnings

    for line in describe(config):
        print(line)
    for line in warnings(config):
        print(f"warning: {line}", file=sys.stderr)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    client = _client(args)
    info = client.request("GET", "/v1/info")
    client.request("POST", "/v1/down")
    _wait_exit(int(info["pid"]))
    print("corral: every program stopped; daemon exited")
    return 0


def _wait_exit(pid: int, timeout: float = 30.0) -> None:
    """Wait for the daemon process to be gone (it removes its socket last)."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll(timeout * 1000)
    finally:
        os.close(fd)


def cmd_status(args: argparse.Namespace) -> int:
    import json
    from urllib.parse import quote

    client = _client(args, QUICK_TIMEOUT)
    target = "/v1/status"
    if args.names:
        target += "?names=" + quote(",".join(args.names))
    processes = client.request("GET", target)["processes"]
    if args.json:
        print(json.dumps(processes, indent=2))
    else:
        from corral.table import render_status

        print(render_status(processes, sys.stdout.isatty()))
    troubled = any(p["state"] in ("fatal", "backoff") for p in processes)
    return 1 if troubled else 0


def _act(args: argparse.Namespace, action: str) -> int:
    if not args.names and not args.all:
        raise UsageError(f"name what to {action}, or use --all")
    if args.names and args.all:
        raise UsageError(f"name what to {action} or use --all, not both")
    client = _client(args)
    body = {"names": args.names, "all": args.all}
    reply = client.request("POST", f"/v1/{action}", body)
    for result in reply["results"]:
        print(result["message"])
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    return _act(args, "start")


def cmd_stop(args: argparse.Namespace) -> int:
    return _act(args, "stop")


def cmd_restart(args: argparse.Namespace) -> int:
    return _act(args, "restart")


def cmd_signal(args: argparse.Namespace) -> int:
    from corral.signals import parse_signal, signal_name

    number = parse_signal(args.signal)  # refused before anything is touched
    client = _client(args)
    reply = client.request("POST", "/v1/signal", {
        "name": args.name, "signal": number, "target": args.target or "group"})
    for result in reply["results"]:
        print(f"{result['name']}: {signal_name(number)} {result['message']}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from urllib.parse import urlencode

    client = _client(args)
    if args.reopen:
        reply = client.request("POST", "/v1/reopen")
        print(f"corral: reopened {reply['reopened']} log file(s)")
        return 0
    if args.lines < 0:
        raise UsageError("-n: expected a number of lines >= 0")
    query = urlencode({"names": ",".join(args.names), "n": args.lines,
                       "stream": "stderr" if args.stderr else "stdout",
                       "follow": int(args.follow)})
    out = sys.stdout.buffer
    try:
        for chunk in client.stream(f"/v1/logs?{query}"):
            out.write(chunk)
            out.flush()
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        return 0
    return 0


def cmd_reload(args: argparse.Namespace) -> int:
    reply = _client(args).request("POST", "/v1/reload")
    parts = [f"{key}: {', '.join(names)}" for key, names in reply.items() if names]
    print("corral: reloaded; " + ("; ".join(parts) if parts else "nothing changed"))
    return 0


def cmd_scale(args: argparse.Namespace) -> int:
    if args.count < 0:
        raise UsageError("N: expected a number of processes >= 0")
    reply = _client(args).request("POST", "/v1/scale",
                                  {"name": args.name, "count": args.count})
    for result in reply["results"]:
        print(result["message"])
    print(f"corral: {args.name} runs {args.count} process(es)")
    return 0


HANDLERS = {
    "up": cmd_up,
    "down": cmd_down,
    "status": cmd_status,
    "start": cmd_start,
    "stop": cmd_stop,
    "restart": cmd_restart,
    "signal": cmd_signal,
    "logs": cmd_logs,
    "reload": cmd_reload,
    "scale": cmd_scale,
    "check": cmd_check,
}


class _Args:
    """Arguments of the fast path, shaped like argparse's."""

    def __init__(self) -> None:
        self.config: str | None = None
        self.socket: str | None = None
        self.names: list[str] = []


FAST_COMMANDS = ("status", "start", "stop", "restart")


def _fast(argv: list[str]) -> int | None:
    """`status`, `start`, `stop` and `restart` with plain names or --all,
    without argparse or json: the daemon answers in text.

    Returns None for anything else, which then takes the full path.
    """
    args = _Args()
    words = list(argv)
    rest: list[str] = []
    every = False
    while words:
        word = words.pop(0)
        if word in ("-c", "--config", "--socket") and words:
            setattr(args, "socket" if word == "--socket" else "config", words.pop(0))
        elif word == "--all":
            every = True
        elif word.startswith("-") or not _plain_name(word):
            return None
        else:
            rest.append(word)
    if not rest or rest[0] not in FAST_COMMANDS:
        return None
    command, names = rest[0], rest[1:]
    from corral.client import Client

    path, config = locate(args)
    client = Client(path, None, os.environ.get("CORRAL_TOKEN"), config)

    if command == "status":
        if every:
            return None
        colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        target = f"/v1/status?format=table&colour={int(colour)}"
        if names:
            target += "&names=" + ",".join(names)
        client.timeout = QUICK_TIMEOUT
        text, troubled = client.text(target)
        sys.stdout.write(text)
        return 1 if troubled else 0

    if not names and not every:
        return None  # the full path says what is missing
    # Names are plain ASCII letters, digits, '-', '_' and '.': JSON as is.
    listed = ",".join(f'"{name}"' for name in names)
    body = f'{{"names": [{listed}], "all": {"true" if every else "false"}}}'
    text, _ = client.text(f"/v1/{command}?format=text", "POST", body.encode())
    sys.stdout.write(text)
    return 0


def _plain_name(word: str) -> bool:
    return word.isascii() and all(c.isalnum() or c in "-_." for c in word)


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit status.

    Standard output that is full ends the command with one line; one that
    is closed, or a pipe nobody reads any more, ends it quietly. Never a
    traceback.
    """
    _standard_streams()
    try:
        status = _main(argv)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        _discard_stdout()
        return 141  # as if killed by SIGPIPE, like the tools it is piped to
    except OSError as exc:
        _discard_stdout()
        where = f"{exc.filename}: " if exc.filename else ""
        _err(f"{where}{exc.strerror or exc}")
        return 1


def _standard_streams() -> None:
    """Open /dev/null on any of descriptors 0-2 that is closed, so nothing
    corral opens later lands there, and give Python its streams back."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdin is None:
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
    if sys.stdout is None:
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    if sys.stderr is None:
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115


def _discard_stdout() -> None:
    """What is still buffered for stdout goes nowhere, quietly, at exit."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError):
        pass


def _main(argv: list[str] | None) -> int:
    words = sys.argv[1:] if argv is None else argv
    try:
        # `up` (or a program called "up") takes the full path.
        fast = None if "up" in words else _fast(words)
        if fast is not None:
            return fast
    except CorralError as exc:
        _err(str(exc))
        return exc.exit_status
    except KeyboardInterrupt:
        return 130

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command != "up":
            _release_held_signals()
        if args.command is None:
            parser.print_help()
            return 2
        return HANDLERS[args.command](args)
    except CorralError as exc:
        _err(str(exc))
        return exc.exit_status
    except KeyboardInterrupt:
        return 130
