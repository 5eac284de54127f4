"""The control socket: HTTP/1.1 with JSON bodies, over a Unix socket.

HTTP keeps the protocol open to `curl --unix-socket` and to a web page
later, without a wire format of our own. h11 does the parsing; this module
maps routes to the supervisor and errors to status codes. The socket
lives in an owner-only directory and every connection's peer credentials
are checked (SO_PEERCRED): only the daemon's own user and root get in.

Requests are bounded in size and in the time a client may take to send
them, so a stuck or hostile client cannot stall the daemon. The API is
described in docs/api.md.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11

from corral import __version__
from corral.errors import (
    ActionFailed,
    ConfigError,
    CorralError,
    UnknownName,
    UsageError,
)
from corral.output import PARTIAL_LIMIT
from corral.signals import parse_signal
from corral.state import same_file

log = logging.getLogger("corral.control")

MAX_HEADER = 16 * 1024
MAX_BODY = 1024 * 1024
READ_TIMEOUT = 10.0
CLOSE_GRACE = 1.0
MAX_LINES = 1_000_000
LINGER = 1.0
FOLLOW_BUFFER = 4 * 1024 * 1024

Query = dict[str, str]
Handler = Callable[[Query, Any], Awaitable[tuple[int, Any]]]


class Request:
    """One parsed request."""

    def __init__(self, method: str, target: str, body: bytes,
                 authorization: bytes = b"", config: str | None = None) -> None:
        self.method = method
        self.authorization = authorization
        # The config the client found this daemon through, if it says.
        self.config = config
        parts = urlsplit(target)
        self.path = parts.path.rstrip("/") or "/"
        self.query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.body = body


class Text:
    """A plain-text reply, with extra headers."""

    def __init__(self, text: str, headers: list[tuple[str, str]]) -> None:
        self.body = text.encode()
        self.headers = headers


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


ERROR_STATUS: list[tuple[type[BaseException], int]] = [
    (UnknownName, 404),
    (UsageError, 400),
    (ConfigError, 422),
    (ActionFailed, 409),
    (CorralError, 500),
]


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process on the other end of a Unix socket."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                              struct.calcsize("3i"))
    except OSError:
        return None
    _pid, uid, _gid = struct.unpack("3i", raw)
    return int(uid)


class ControlServer:
    """Serves the API of one daemon on its Unix socket."""

    def __init__(self, api: Any, path: str, listen: tuple[str, int] | None = None,
                 token: str | None = None) -> None:
        self.api = api
        self.path = path
        self.listen = listen
        self.token = f"Bearer {token}".encode() if token else None
        self.server: asyncio.base_events.Server | None = None
        self.tcp: asyncio.base_events.Server | None = None
        self.routes: dict[tuple[str, str], Handler] = {
            ("GET", "/v1/info"): api.info,
            ("GET", "/v1/status"): api.status,
            ("POST", "/v1/start"): api.start,
            ("POST", "/v1/stop"): api.stop,
            ("POST", "/v1/restart"): api.restart,
            ("POST", "/v1/signal"): api.signal,
            ("POST", "/v1/down"): api.down,
            ("POST", "/v1/reload"): api.reload,
            ("POST", "/v1/scale"): api.scale,
            ("POST", "/v1/reopen"): api.reopen,
        }
        self.connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        old_umask = os.umask(0o177)
        try:
            self.server = await asyncio.start_unix_server(
                self._connection, path=self.path, limit=MAX_HEADER
            )
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        if self.listen is not None:
            host, port = self.listen
            try:
                self.tcp = await asyncio.start_server(
                    self._connection, host, port, limit=MAX_HEADER)
            except OSError as exc:
                raise CorralError(f"cannot listen on {host}:{port}: "
                                  f"{exc.strerror}") from None
            log.info("control listener on %s:%d (token required)", host, port)

    async def close(self) -> None:
        """Stop listening; let requests in flight answer, briefly; then close."""
        if self.tcp is not None:
            self.tcp.close()
        if self.server is not None:
            self.server.close()
            if self.connections:
                await asyncio.wait(list(self.connections), timeout=CLOSE_GRACE)
            for task in list(self.connections):
                task.cancel()
            await self.server.wait_closed()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("control connection failed")
        finally:
            self.connections.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER)
        sock = writer.get_extra_info("socket")
        tcp = sock.family in (socket.AF_INET, socket.AF_INET6)
        uid = None if tcp else peer_uid(sock)
        allowed = uid is not None and uid in (0, os.getuid())

        while True:
            try:
                request = await asyncio.wait_for(self._read(conn, reader),
                                                 READ_TIMEOUT)
            except TimeoutError:
                return
            except HttpError as exc:
                await self._send_json(conn, writer, exc.status,
                                      {"error": str(exc)}, close=True)
                await _linger(reader, writer)
                return
            if request is None:
                return

            if tcp:
                allowed = self.token is not None and hmac.compare_digest(
                    request.authorization, self.token)
                if not allowed:
                    log.warning("refused a TCP request without the right token")
                    await self._send_json(conn, writer, 401, {
                        "error": "unauthorized: send 'Authorization: Bearer TOKEN' "
                                 "(CORRAL_TOKEN for the corral command)"
                    }, close=True)
                    return
            if not allowed:
                log.warning("refused a request from uid %s: only uid %d and root "
                            "may control this daemon", uid, os.getuid())
                await self._send_json(conn, writer, 403, {
                    "error": "permission denied: this daemon belongs to another user"
                }, close=True)
                return

            clash = self.api.config_clash(request.config)
            if clash:
                await self._send_json(conn, writer, 409, {"error": clash}, close=True)
                return
            if request.method == "GET" and request.path == "/v1/logs":
                await self._logs(conn, reader, writer, request)
                return
            status, payload = await self._dispatch(request)
            await self._send_json(conn, writer, status, payload)
            if conn.our_state is h11.MUST_CLOSE:
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _read(self, conn: h11.Connection,
                    reader: asyncio.StreamReader) -> Request | None:
        method = target = ""
        authorization = b""
        config = None
        body = bytearray()
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                if exc.error_status_hint == 431:
                    raise HttpError(431, f"request line and headers over "
                                         f"{MAX_HEADER // 1024} KiB") from None
                raise HttpError(exc.error_status_hint, f"bad request: {exc}") from None
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                method = event.method.decode()
                target = event.target.decode(errors="replace")
                for name, value in event.headers:
                    if name == b"content-length" and int(value) > MAX_BODY:
                        raise HttpError(413, f"request body over {MAX_BODY} bytes")
                    if name == b"authorization":
                        authorization = value
                    if name == b"corral-config":
                        config = value.decode("utf-8", "surrogateescape")
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY:
                    raise HttpError(413, f"request body over {MAX_BODY} bytes")
            elif isinstance(event, h11.EndOfMessage):
                return Request(method, target, bytes(body), authorization, config)
            elif isinstance(event, h11.ConnectionClosed):
                return None

    async def _dispatch(self, request: Request) -> tuple[int, Any]:
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            known = any(path == request.path for _, path in self.routes)
            if known:
                return 405, {"error": f"method {request.method} not allowed here"}
            return 404, {"error": f"no such endpoint {request.path}"}
        try:
            body = json.loads(request.body) if request.body else {}
        except (ValueError, UnicodeDecodeError) as exc:
            return 400, {"error": f"request body is not JSON: {exc}"}
        if not isinstance(body, dict):
            return 400, {"error": "request body must be a JSON object"}
        try:
            return await handler(request.query, body)
        except CorralError as exc:
            for kind, status in ERROR_STATUS:
                if isinstance(exc, kind):
                    return status, {"error": str(exc)}
            return 500, {"error": str(exc)}
        except Exception as exc:
            log.exception("request %s %s failed", request.method, request.path)
            return 500, {"error": f"internal error: {exc.__class__.__name__}: {exc}"}

    async def _send_json(self, conn: h11.Connection, writer: asyncio.StreamWriter,
                         status: int, payload: Any, close: bool = False) -> None:
        if isinstance(payload, Text):
            body = payload.body
            headers = [("content-type", "text/plain; charset=utf-8"),
                       ("content-length", str(len(body))), *payload.headers]
        else:
            body = json.dumps(payload).encode() + b"\n"
            headers = [("content-type", "application/json"),
                       ("content-length", str(len(body)))]
        if close:
            headers.append(("connection", "close"))
        if conn.our_state is not h11.SEND_RESPONSE:
            # The request never parsed: h11 will not frame a reply for it,
            # but the client still deserves to know why.
            head = f"HTTP/1.1 {status} {_reason(status).decode()}\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in headers) + "connection: close\r\n\r\n"
            writer.write(head.encode() + body)
            await writer.drain()
            return
        writer.write(conn.send(h11.Response(status_code=status, headers=headers,
                                            reason=_reason(status))))
        writer.write(conn.send(h11.Data(data=body)))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()

    async def _logs(self, conn: h11.Connection, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter, request: Request) -> None:
        """Print the tail of a stream, then follow it if asked (chunked)."""
        try:
            count = _count(request.query.get("n", "10"))
            follow = request.query.get("follow", "0") in ("1", "true", "yes")
            await self.api.sup.settled()  # names mean what they mean after a reload
            selection, sources = self.api.log_selection(request.query)
        except CorralError as exc:
            status = 400
            for kind, code in ERROR_STATUS:
                if isinstance(exc, kind):
                    status = code
                    break
            await self._send_json(conn, writer, status, {"error": str(exc)},
                                  close=True)
            return

        writer.write(conn.send(h11.Response(status_code=200, headers=[
            ("content-type", "application/octet-stream"),
            ("transfer-encoding", "chunked")])))
        # A labelled tail that ends in an unfinished line is ended before
        # the next label. When following, a line still being written is
        # left to the follower instead, to be shown whole once it ends.
        unfinished = False
        begun: list[tuple[object, bytes, bytes]] = []
        for stream in sources:
            own = selection.own(stream)
            prefix = selection.prefix(stream)
            data = stream.last_lines(max(count, 1) if follow else count, own=own)
            if follow:
                cut = data.rfind(b"\n") + 1
                if cut < len(data):
                    begun.append((stream, prefix, data[cut:]))
                data = data[:cut] if count else b""
                if stream.shared and not own:
                    begun += [(key, prefix, line)
                              for key, line in stream.file.partials()]
            if not data:
                continue
            if unfinished:
                writer.write(conn.send(h11.Data(data=b"\n")))
            writer.write(conn.send(h11.Data(data=_prefixed(prefix, data))))
            unfinished = selection.prefixed and not data.endswith(b"\n")
        if not follow:
            writer.write(conn.send(h11.EndOfMessage()))
            await writer.drain()
            return

        # Follow: lines are queued as the readers deliver them and sent
        # here; a client that cannot keep up is dropped instead of slowing
        # anything down. Following starts right after the tail was taken,
        # with nothing in between.
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        pending = 0
        over = False

        def push(data: bytes | None) -> None:
            nonlocal pending, over
            if over:
                return
            if data is not None and pending > FOLLOW_BUFFER:
                data = b"corral: this follower fell behind; stopped\n"
                over = True
            if data is None:
                over = True
            else:
                pending += len(data)
            queue.put_nowait(data)
            if over and data is not None:
                queue.put_nowait(None)

        checking: set[asyncio.Future[None]] = set()

        async def recheck() -> None:
            # A followed stream was closed: once reload or scale is done,
            # the names that are gone are said so and no longer followed.
            await self.api.sup.settled()
            for name in self.api.gone(selection.names()):
                follower.note(f"corral: {name} is gone; no longer following it")
                selection.forget(name)
            if selection.empty():
                follower.flush()
                push(None)

        def closed() -> None:
            if not checking:
                task = asyncio.ensure_future(recheck())
                checking.add(task)
                task.add_done_callback(checking.discard)

        follower = Follow(selection, push, closed)
        for key, prefix, line in begun:
            follower.begun(key, prefix, line)
        self.api.follow(follower)
        client_gone = asyncio.ensure_future(_wait_closed(reader))
        try:
            await writer.drain()
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, client_gone},
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    return
                chunk = getter.result()
                if chunk is None:
                    writer.write(conn.send(h11.EndOfMessage()))
                    await writer.drain()
                    return
                pending -= len(chunk)
                writer.write(conn.send(h11.Data(data=chunk)))
                await writer.drain()
        finally:
            client_gone.cancel()
            for task in list(checking):
                task.cancel()
            self.api.unfollow(follower)
            follower.close()


class Selection:
    """What one `corral logs` request names, and how its lines are labelled.

    A log file that several processes write is one history: it is read
    once and its lines are labelled with who writes it (a program's name
    for its processes), as the file does not say which process wrote each
    line. A process named on its own shows its own lines, whatever file
    they went to.
    """

    def __init__(self, names: list[str], kind: str) -> None:
        self.kind = kind
        self.every = not names
        # Program names hold no dot; process names are `program.N`.
        self.processes = {n for n in names if "." in n}
        self.programs = {n for n in names if "." not in n}
        self.prefixed = True

    def names(self) -> list[str]:
        return sorted(self.programs | self.processes)

    def forget(self, name: str) -> None:
        self.programs.discard(name)
        self.processes.discard(name)

    def empty(self) -> bool:
        return not (self.every or self.programs or self.processes)

    def wants(self, stream: Any) -> bool:
        return self.kind in stream.carries and (
            self.every or stream.name in self.processes
            or stream.program in self.programs)

    def own(self, stream: Any) -> bool:
        return stream.name in self.processes

    def prefix(self, stream: Any) -> bytes:
        if not self.prefixed:
            return b""
        label = stream.file.label() if stream.shared and not self.own(stream) \
            else stream.name
        return f"{label} │ ".encode()

    def sources(self, processes: list[Any]) -> list[Any]:
        """One stream per history to show."""
        seen: dict[object, Any] = {}
        for process in processes:
            stream = process.outputs[self.kind]
            key = stream.file.path if stream.shared and not self.own(stream) \
                else id(stream)
            seen.setdefault(key, stream)
        self.prefixed = self.every or len(seen) > 1
        return list(seen.values())


# How long an unfinished line is held back while following, before what
# there is of it is shown.
PARTIAL_WAIT = 0.5


class Held:
    """The unfinished last line of one source."""

    def __init__(self, prefix: bytes, data: bytes, since: float) -> None:
        self.prefix = prefix
        self.data = data
        self.since = since


class Follow:
    """The followed output of one request, as whole lines, one label each.

    Each source (one pipe of one process) is cut at its newlines, and a
    line is sent once it is complete, so lines of different sources never
    mix and each carries one label. A line still unfinished after
    PARTIAL_WAIT (a prompt, a progress bar) or when its pipe ends is shown
    as far as it goes, and the rest of it follows as it comes; should
    another source's line come first, a newline ends the shown part (the
    only byte ever added, and only between lines of two sources).

    A line begun before following started is held the same way, under
    its source's key or, where that is not known, its stream's.
    """

    def __init__(self, selection: Selection, send: Callable[[bytes], None],
                 closed: Callable[[], None]) -> None:
        self.selection = selection
        self.send = send
        self.on_closed = closed
        self.loop = asyncio.get_running_loop()
        self.held: dict[object, Held] = {}
        self.open: object | None = None  # shown, its newline not yet sent
        self.timer: asyncio.TimerHandle | None = None

    def wants(self, stream: Any) -> bool:
        return self.selection.wants(stream)

    def begun(self, key: object, prefix: bytes, line: bytes) -> None:
        """A line already under way when following starts."""
        self.held[key] = Held(prefix, line, self.loop.time())
        self._arm()

    def data(self, stream: Any, key: object, chunk: bytes) -> None:
        if self.open is key or self.open is stream:
            cut = chunk.find(b"\n") + 1
            if cut == 0:
                self.send(chunk)
                return
            self.send(chunk[:cut])
            self.open = None
            chunk = chunk[cut:]
            if not chunk:
                return
        now = self.loop.time()
        held = self.held.pop(key, None)
        if held is None and stream in self.held:
            held = self.held.pop(stream)
        if held is not None:
            chunk = held.data + chunk
        prefix = self.selection.prefix(stream)
        cut = chunk.rfind(b"\n") + 1
        if cut:
            self._end_open()
            self.send(_prefixed(prefix, chunk[:cut]))
        rest = chunk[cut:]
        if not rest:
            return
        if len(rest) > PARTIAL_LIMIT:
            self._show(key, prefix, rest)  # a very long line: shown as it comes
            return
        since = held.since if held is not None and not cut else now
        self.held[key] = Held(prefix, rest, since)
        self._arm()

    def end(self, stream: Any, key: object) -> None:
        """A pipe ended: its last line, newline or not, is complete."""
        held = self.held.pop(key, None) or self.held.pop(stream, None)
        if held is not None:
            self._show(key, held.prefix, held.data)

    def closed(self, stream: Any) -> None:
        self.on_closed()

    def note(self, text: str) -> None:
        """A line of corral's own, between the programs' lines."""
        self._end_open()
        self.send(text.encode() + b"\n")

    def flush(self) -> None:
        for key, held in list(self.held.items()):
            del self.held[key]
            self._show(key, held.prefix, held.data)

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _show(self, key: object, prefix: bytes, data: bytes) -> None:
        self._end_open()
        self.send(prefix + data)
        self.open = key

    def _end_open(self) -> None:
        if self.open is not None:
            self.send(b"\n")
            self.open = None

    def _arm(self) -> None:
        if self.timer is None and self.held:
            due = min(h.since for h in self.held.values()) + PARTIAL_WAIT
            self.timer = self.loop.call_at(due, self._due)

    def _due(self) -> None:
        self.timer = None
        now = self.loop.time()
        for key, held in list(self.held.items()):
            if now - held.since >= PARTIAL_WAIT:
                del self.held[key]
                self._show(key, held.prefix, held.data)
        self._arm()


def _count(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) > MAX_LINES:
        raise UsageError(f"n: expected a number of lines 0..{MAX_LINES}, got {text!r}")
    return int(text)


async def _linger(reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter) -> None:
    """Read and drop what the client still sends, briefly, before closing.

    Closing a socket with unread input resets it, and the client would lose
    the error reply it has not read yet.
    """
    if writer.can_write_eof():
        writer.write_eof()
    budget = MAX_BODY * 8
    try:
        async with asyncio.timeout(LINGER):
            while budget > 0 and (data := await reader.read(65536)):
                budget -= len(data)
    except (TimeoutError, ConnectionError):
        pass


async def _wait_closed(reader: asyncio.StreamReader) -> None:
    # The client sends nothing more; end of file means it went away.
    while await reader.read(65536):
        pass


def _prefixed(prefix: bytes, data: bytes) -> bytes:
    if not prefix:
        return data
    lines = data.split(b"\n")
    tail = lines.pop() if lines else b""
    out = b"".join(prefix + line + b"\n" for line in lines)
    if tail:
        out += prefix + tail
    return out


def _reason(status: int) -> bytes:
    return {
        200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 403: b"Forbidden",
        404: b"Not Found",
        405: b"Method Not Allowed", 409: b"Conflict", 413: b"Payload Too Large",
        422: b"Unprocessable Entity", 500: b"Internal Server Error",
    }.get(status, b"")


class Api:
    """The operations behind the routes, on one supervisor."""

    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon

    @property
    def sup(self) -> Any:
        return self.daemon.supervisor

    def config_clash(self, path: str | None) -> str | None:
        """Why a client that found this daemon through the config PATH is
        at the wrong daemon (two configs sharing one state directory)."""
        mine = self.daemon.config.path
        if path is None or same_file(path, mine):
            return None
        return (f"the daemon at this socket (pid {os.getpid()}) runs {mine}, "
                f"not {path}: both use the state directory "
                f"{self.daemon.config.state_dir}; give one a state_dir of its own "
                "in [corral]")

    async def info(self, query: Query, body: Any) -> tuple[int, Any]:
        return 200, {"version": __version__, "pid": os.getpid(),
                     "config": self.daemon.config.path,
                     "state_dir": self.daemon.config.state_dir}

    async def status(self, query: Query, body: Any) -> tuple[int, Any]:
        names = [n for n in query.get("names", "").split(",") if n]
        processes = self.sup.status(names)
        if query.get("format") != "table":
            return 200, {"processes": processes}
        from corral.table import render_status

        troubled = any(p["state"] in ("fatal", "backoff") for p in processes)
        text = render_status(processes, query.get("colour") == "1") + "\n"
        return 200, Text(text, [("corral-trouble", "1" if troubled else "0")])

    def _targets(self, body: dict[str, Any]) -> list[Any]:
        names = body.get("names", [])
        all_ = bool(body.get("all", False))
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise UsageError("names: expected a list of strings")
        if not names and not all_:
            raise UsageError("name a program or process, or use --all")
        if names and all_:
            raise UsageError("name programs or use --all, not both")
        return self.sup.resolve(names, all_=all_)  # type: ignore[no-any-return]

    async def _act(self, action: Callable[[list[Any]], Awaitable[list[dict[str, Any]]]],
                   query: Query, body: dict[str, Any]) -> tuple[int, Any]:
        await self.sup.settled()  # names mean what they mean after a reload
        results = await action(self._targets(body))
        ok = all(r["ok"] for r in results)
        if query.get("format") != "text":
            return (200 if ok else 409), {"ok": ok, "results": results}
        if ok:
            return 200, Text("".join(f"{r['message']}\n" for r in results), [])
        failed = "; ".join(r["message"] for r in results if not r["ok"])
        return 409, Text(failed + "\n", [])

    async def start(self, query: Query, body: Any) -> tuple[int, Any]:
        return await self._act(self.sup.start, query, body)

    async def stop(self, query: Query, body: Any) -> tuple[int, Any]:
        return await self._act(self.sup.stop, query, body)

    async def restart(self, query: Query, body: Any) -> tuple[int, Any]:
        return await self._act(self.sup.restart, query, body)

    async def signal(self, query: Query, body: Any) -> tuple[int, Any]:
        name = body.get("name")
        target = body.get("target", "group")
        if not isinstance(name, str) or not name:
            raise UsageError("name: expected a program or process name")
        if target not in ("main", "group", "tree"):
            raise UsageError(f"target: expected main, group or tree, got {target!r}")
        raw = body.get("signal")
        if not isinstance(raw, str | int) or isinstance(raw, bool):
            raise UsageError("signal: expected a signal name or number")
        sig = parse_signal(raw)
        await self.sup.settled()
        results = self.sup.signal(name, sig, target)
        ok = all(r["ok"] for r in results)
        return (200 if ok else 409), {"ok": ok, "results": results}

    async def down(self, query: Query, body: Any) -> tuple[int, Any]:
        await self.daemon.shutdown("requested by 'corral down'")
        return 200, {"ok": True}

    async def reload(self, query: Query, body: Any) -> tuple[int, Any]:
        return 200, await self.daemon.reload()

    async def scale(self, query: Query, body: Any) -> tuple[int, Any]:
        name, count = body.get("name"), body.get("count")
        if not isinstance(name, str) or isinstance(count, bool) \
                or not isinstance(count, int):
            raise UsageError("expected a program name and a whole number")
        results = await self.sup.scale(name, count)
        ok = all(r["ok"] for r in results)
        return (200 if ok else 409), {"ok": ok, "results": results}

    async def reopen(self, query: Query, body: Any) -> tuple[int, Any]:
        count = self.daemon.reopen_logs()
        log.info("reopened %d log file(s), as asked by 'corral logs --reopen'",
                 count)
        return 200, {"ok": True, "reopened": count}

    def log_selection(self, query: Query) -> tuple[Selection, list[Any]]:
        """What a logs request names, and the streams whose tails it shows."""
        names = [n for n in query.get("names", "").split(",") if n]
        stream = query.get("stream", "stdout")
        if stream not in ("stdout", "stderr"):
            raise UsageError(f"stream: expected stdout or stderr, got {stream!r}")
        processes = self.sup.resolve(names, all_=not names)
        selection = Selection(names, stream)
        return selection, selection.sources(processes)

    def follow(self, follower: Any) -> None:
        self.sup.ctx.sinks.followers.append(follower)

    def unfollow(self, follower: Any) -> None:
        followers = self.sup.ctx.sinks.followers
        if follower in followers:
            followers.remove(follower)

    def gone(self, names: list[str]) -> list[str]:
        """The NAMES no longer known (removed by reload, scaled away)."""
        missing = []
        for name in names:
            try:
                self.sup.resolve([name])
            except UnknownName:
                missing.append(name)
        return missing
