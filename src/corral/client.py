"""The command line's side of the control socket.

A deliberately small HTTP/1.1 client over a Unix socket. `corral status`
should answer in a few tens of milliseconds, and importing http.client
(with the email package behind it) costs more than the whole round trip,
so this module imports only `_socket` and `json` and speaks the small part
of HTTP the daemon uses: one request per connection, a Content-Length or
chunked body.
"""

from __future__ import annotations

import _socket

from corral.errors import (
    ActionFailed,
    ControlError,
    NotRunning,
    UnknownName,
    UsageError,
)

# typing costs milliseconds to import; only the type checker needs it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Generator
    from typing import Any

MAX_SOCKET_PATH = 107
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _number(text: bytes | str, base: int = 10) -> int:
    """A non-negative number from the wire, or a `ControlError`."""
    raw = text.decode("latin-1") if isinstance(text, bytes) else text
    raw = raw.strip()
    digits = "0123456789abcdefABCDEF"[: base if base == 10 else 22]
    if not raw or any(c not in digits for c in raw):
        raise ControlError(f"the daemon sent a malformed number {raw[:20]!r}")
    return int(raw, base)


def runtime_lock_path(config: str, create: bool = False) -> str | None:
    """The lock file that marks a running daemon of CONFIG (by real path),
    in `$XDG_RUNTIME_DIR/corral`, else `/tmp/corral-UID`: a directory of
    the user's own, private, or None where there is none."""
    import hashlib
    import os
    import stat

    digest = hashlib.sha256(os.path.realpath(config).encode(
        "utf-8", "surrogateescape")).hexdigest()[:32]
    places = []
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        places.append(os.path.join(runtime, "corral"))
    places.append(f"/tmp/corral-{os.getuid()}")
    for place in places:
        try:
            if create:
                os.makedirs(place, mode=0o700, exist_ok=True)
            info = os.lstat(place)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() \
                and not info.st_mode & 0o077:
            return os.path.join(place, f"{digest}.lock")
    return None


def _exists(path: str) -> bool:
    import os

    return os.path.exists(path)


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        import json

        try:
            return json.loads(self.body)
        except ValueError:
            raise ControlError("the daemon sent a reply that is not JSON") from None


class Client:
    """Talks to one daemon through its socket path."""

    def __init__(self, path: str, timeout: float | None = None,
                 token: str | None = None, config: str | None = None) -> None:
        self.path = path
        self.timeout = timeout
        if token is not None and (not token.isprintable() or " " in token):
            raise UsageError("CORRAL_TOKEN: expected printable characters "
                             "without spaces")
        self.token = token
        # The absolute path of the config this socket was found through: the
        # daemon refuses requests meant for another config's daemon.
        self.config = config
        self.address: Any = path
        self.family = _socket.AF_UNIX
        if not path:
            raise UsageError("the control socket path is empty")
        if "://" in path and not path.startswith("http://"):
            raise UsageError(f"{path}: expected a Unix socket path or "
                             "http://127.0.0.1:PORT (plain HTTP, loopback only)")
        if path.startswith("http://"):
            host, _, port = path[len("http://"):].rstrip("/").rpartition(":")
            host = host.strip("[]")
            if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
                raise UsageError(f"expected http://HOST:PORT with a port from 1 to "
                                 f"65535, got {path!r}")
            parts = host.split(".")
            literal = len(parts) == 4 and parts[0] == "127" and all(
                p.isascii() and p.isdigit() and int(p) < 256 for p in parts)
            if host not in LOOPBACK and not literal:
                raise UsageError(f"{host}: the TCP listener is on loopback only "
                                 "(127.0.0.1, ::1 or localhost)")
            self.address = (host, int(port))
            self.family = _socket.AF_INET6 if ":" in host else _socket.AF_INET

    def _connect(self) -> Any:
        sock = _socket.socket(self.family, _socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.address)
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            raise NotRunning(f"no daemon is running (no socket at {self.path})"
                             f"{self._elsewhere()}") from None
        except PermissionError:
            sock.close()
            raise ControlError(
                f"permission denied: cannot open {self.path} "
                "(the daemon belongs to another user)"
            ) from None
        except OSError as exc:
            sock.close()
            why = exc.strerror or str(exc)
            if len(self.path.encode()) > MAX_SOCKET_PATH:
                why = f"the path is longer than {MAX_SOCKET_PATH} bytes"
            raise NotRunning(f"cannot reach the daemon at {self.path}: {why}") \
                from None
        return sock

    def _elsewhere(self) -> str:
        """A daemon of this config that runs with another state directory:
        its state_dir was edited after it started."""
        lock = runtime_lock_path(self.config, create=False) if self.config else None
        try:
            with open(lock or "", encoding="utf-8", errors="replace") as f:
                other = f.read().strip()
        except OSError:
            return ""
        sock = f"{other}/corral.sock"
        if not other or sock == self.path or not _exists(sock):
            return ""
        return (f"; but one runs for this config with the state directory "
                f"{other}: use --socket {sock}")

    def _send(self, method: str, target: str, body: Any = None) -> Any:
        sock = self._connect()
        if body is None:
            payload = b""
        elif isinstance(body, bytes):
            payload = body
        else:
            import json

            payload = json.dumps(body).encode()
        auth = f"Authorization: Bearer {self.token}\r\n" if self.token else ""
        if self.config is not None and self.config.isprintable():
            raw = self.config.encode("utf-8", "surrogateescape").decode("latin-1")
            auth += f"Corral-Config: {raw}\r\n"
        head = (f"{method} {target} HTTP/1.1\r\nHost: corral\r\n"
                f"Content-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n{auth}"
                "Connection: close\r\n\r\n")
        try:
            sock.sendall(head.encode() + payload)
        except OSError as exc:
            sock.close()
            raise NotRunning(f"the daemon closed the connection: {exc}") from None
        return sock

    def _exchange(self, method: str, target: str, body: Any = None) -> Response:
        """One request, one whole reply."""
        sock = self._send(method, target, body)
        try:
            reader = _Reader(sock)
            status, headers = reader.head()
            data = b"".join(reader.body(headers))
        except TimeoutError:
            raise ControlError(f"the daemon did not answer within {self.timeout:g} s") \
                from None
        except OSError as exc:
            raise ControlError(f"lost the connection to the daemon: {exc}") from None
        finally:
            sock.close()
        return Response(status, headers, data)

    def request(self, method: str, target: str, body: Any = None) -> Any:
        """Send a request and return its JSON reply, or raise by status."""
        response = self._exchange(method, target, body)
        reply = response.json()
        raise_for(response.status, reply)
        return reply

    def text(self, target: str, method: str = "GET",
             body: bytes | None = None) -> tuple[str, bool]:
        """A text reply; also whether the daemon flagged trouble."""
        response = self._exchange(method, target, body)
        if response.status >= 400:
            kind = response.headers.get("content-type", "")
            if kind.startswith("text/plain"):
                message = response.body.decode(errors="replace").strip()
                raise_for(response.status, {"error": message})
            raise_for(response.status, response.json())
        trouble = response.headers.get("corral-trouble") == "1"
        return response.body.decode(errors="replace"), trouble

    def stream(self, target: str) -> Generator[bytes, None, None]:
        """Send a GET and yield the body as it arrives (for logs -f)."""
        sock = self._send("GET", target)
        try:
            reader = _Reader(sock)
            status, headers = reader.head()
            if status != 200:
                data = b"".join(reader.body(headers))
                raise_for(status, Response(status, headers, data).json())
            yield from reader.body(headers)
        finally:
            sock.close()


def raise_for(status: int, reply: Any) -> None:
    """Turn an error status into the matching `CorralError`."""
    if status < 400:
        return
    message = reply.get("error") if isinstance(reply, dict) else None
    if message is None and isinstance(reply, dict):
        results = reply.get("results")
        failed = [r for r in results if isinstance(r, dict) and not r.get("ok")] \
            if isinstance(results, list) else []
        message = "; ".join(str(r.get("message", "")) for r in failed)
    message = message or f"the daemon answered {status}"
    if status == 404:
        raise UnknownName(message)
    if status == 400:
        raise UsageError(message)
    if status == 409:
        raise ActionFailed(message)
    if status == 401:
        raise ControlError(message)
    raise ControlError(message)


class _Reader:
    """Reads an HTTP response from a socket, buffering what it over-reads."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if not self._fill():
                raise ControlError("the daemon closed the connection mid-reply")
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def head(self) -> tuple[int, dict[str, str]]:
        status_line = self._line().decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or len(parts[1]) != 3 or not parts[1].isascii() \
                or not parts[1].isdigit():
            raise ControlError(f"not an HTTP reply: {status_line[:60]!r}")
        headers: dict[str, str] = {}
        while line := self._line():
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers

    def _exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise ControlError("the daemon closed the connection mid-reply")
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def body(self, headers: dict[str, str]) -> Generator[bytes, None, None]:
        if "chunked" in headers.get("transfer-encoding", ""):
            while True:
                size = _number(self._line().split(b";")[0], 16)
                if size == 0:
                    self._line()
                    return
                yield self._exactly(size)
                self._exactly(2)
        elif "content-length" in headers:
            yield self._exactly(_number(headers["content-length"]))
        else:
            while self._fill():
                pass
            yield self.buffer
            self.buffer = b""
