"""The control client against `ScriptServer`, a scripted Unix socket server.

The `_Reader` tests at the end feed a fake socket one byte per `recv`, so
replies split at every possible point are covered deterministically.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path
from types import GeneratorType
from typing import Any

import pytest

from corral.client import Client, Response, _Reader, raise_for
from corral.errors import (
    ActionFailed,
    ControlError,
    CorralError,
    NotRunning,
    UnknownName,
    UsageError,
)
from tests.unit.conftest import (
    SHORT_TIMEOUT,
    ExpectClose,
    Script,
    ScriptServer,
    chunked,
    json_reply,
    reply,
)

# A timeout meant to expire, for the one test of the client's timeout.
EXPIRING_TIMEOUT = 0.01


@pytest.fixture
def client(server: ScriptServer) -> Client:
    return Client(server.path, timeout=SHORT_TIMEOUT)


# ---------------------------------------------------------------------------
# Requests and good replies


def test_request_sends_json_and_returns_the_json_reply(
    server: ScriptServer, client: Client
) -> None:
    server.answer(json_reply("200 OK", {"results": []}))
    assert client.request("POST", "/v1/start", {"names": ["web"], "all": False}) == {
        "results": []
    }
    first, headers, body = server.requests[0]
    assert first == "POST /v1/start HTTP/1.1"
    assert headers["host"] == "corral"
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert json.loads(body) == {"names": ["web"], "all": False}
    assert headers["content-length"] == str(len(body))


def test_request_without_body_sends_an_empty_one(
    server: ScriptServer, client: Client
) -> None:
    server.answer(json_reply("200 OK", {"pid": 42}))
    assert client.request("GET", "/v1/info") == {"pid": 42}
    assert server.requests[0] == (
        "GET /v1/info HTTP/1.1",
        {"host": "corral", "content-type": "application/json",
         "content-length": "0", "connection": "close"},
        b"",
    )


def test_chunked_reply(server: ScriptServer, client: Client) -> None:
    server.answer(chunked("200 OK", b'{"proc', b'esses": ', b"[1, 2]}"))
    assert client.request("GET", "/v1/status") == {"processes": [1, 2]}


def test_chunked_reply_with_extensions(server: ScriptServer, client: Client) -> None:
    server.answer(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                  b"2;name=value\r\n{}\r\n0\r\n\r\n")
    assert client.request("GET", "/") == {}


def test_reply_written_one_byte_at_a_time(server: ScriptServer, client: Client) -> None:
    data = chunked("200 OK", b'{"a":', b" 1}")
    server.answer(*(data[i : i + 1] for i in range(len(data))))
    assert client.request("GET", "/") == {"a": 1}


def test_reply_with_head_and_body_in_separate_writes(
    server: ScriptServer, client: Client
) -> None:
    server.answer(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n", b"\r\n", b'{"a"', b": 2}")
    assert client.request("GET", "/") == {"a": 2}


def test_reply_delimited_by_close(server: ScriptServer, client: Client) -> None:
    server.answer(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", b"[1,", b" 2]")
    assert client.request("GET", "/") == [1, 2]


def test_header_names_are_case_insensitive(server: ScriptServer, client: Client) -> None:
    server.answer(b"HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 2\r\n\r\n{}")
    assert client.request("GET", "/") == {}


def test_bytes_after_the_content_length_are_ignored(
    server: ScriptServer, client: Client
) -> None:
    server.answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}junk")
    assert client.request("GET", "/") == {}


# ---------------------------------------------------------------------------
# Error statuses


@pytest.mark.parametrize(
    ("status", "error", "exit_status"),
    [
        ("404 Not Found", UnknownName, 2),
        ("400 Bad Request", UsageError, 2),
        ("409 Conflict", ActionFailed, 1),
        ("500 Internal Server Error", ControlError, 1),
        ("503 Service Unavailable", ControlError, 1),
    ],
)
def test_error_status_becomes_its_error_class(
    server: ScriptServer, client: Client, status: str, error: type[CorralError],
    exit_status: int,
) -> None:
    server.answer(json_reply(status, {"error": "no program 'nope'"}))
    with pytest.raises(error) as info:
        client.request("POST", "/v1/stop", {"names": ["nope"]})
    assert type(info.value) is error
    assert str(info.value) == "no program 'nope'"
    assert info.value.exit_status == exit_status


def test_409_joins_the_messages_of_what_failed(
    server: ScriptServer, client: Client
) -> None:
    server.answer(json_reply("409 Conflict", {"results": [
        {"name": "a.0", "ok": False, "message": "a.0: exit status 1"},
        {"name": "b.0", "ok": True, "message": "b.0: started"},
        {"name": "c.0", "ok": False, "message": "c.0: could not start"},
    ]}))
    with pytest.raises(ActionFailed, match=r"^a\.0: exit status 1; c\.0: could not start$"):
        client.request("POST", "/v1/start", {"all": True})


def test_error_status_without_a_message_names_the_status(
    server: ScriptServer, client: Client
) -> None:
    server.answer(json_reply("500 Oops", {}))
    with pytest.raises(ControlError, match=r"^the daemon answered 500$"):
        client.request("GET", "/")


def test_reply_that_is_not_json(server: ScriptServer, client: Client) -> None:
    server.answer(reply("200 OK", b"<html>hello</html>"))
    with pytest.raises(ControlError, match="not JSON"):
        client.request("GET", "/")


# ---------------------------------------------------------------------------
# Garbage and early closes


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ([b""], "closed the connection mid-reply"),
        ([b"HTTP/1.1 200 OK\r\nContent-Le"], "closed the connection mid-reply"),
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a\""],
         "closed the connection mid-reply"),
        ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\""],
         "closed the connection mid-reply"),
        ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n"],
         "closed the connection mid-reply"),
        ([b"hello\r\n\r\n"], "not an HTTP reply: 'hello'"),
        ([b"HTTP/1.1 OK\r\n\r\n"], "not an HTTP reply: 'HTTP/1.1 OK'"),
        ([b"\x00\xff garbage \x01\r\n"], "not an HTTP reply"),
        ([b"SSH-2.0-OpenSSH_9.6" * 10 + b"\r\n"], "not an HTTP reply"),
    ],
    ids=["nothing", "mid-headers", "mid-body", "mid-chunk", "no-last-chunk",
         "no-status", "no-code", "binary", "long-line"],
)
def test_garbage_and_early_close_are_control_errors(
    server: ScriptServer, client: Client, script: Script, message: str
) -> None:
    server.answer(*script)
    with pytest.raises(ControlError) as info:
        client.request("GET", "/v1/status")
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert len(str(info.value)) < 120


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        # 0xB2 is '²' in latin-1: str.isdigit says yes, int() says no.
        b"HTTP/1.1 \xb200 OK\r\nContent-Length: 2\r\n\r\n{}",
    ],
    ids=["content-length", "chunk-size", "status-superscript-digit"],
)
def test_regression_unparsable_numbers_in_a_reply_are_control_errors(
    server: ScriptServer, client: Client, data: bytes
) -> None:
    """Garbage from the socket must end as ControlError, not a traceback."""
    server.answer(data)
    with pytest.raises(ControlError):
        client.request("GET", "/")


# ---------------------------------------------------------------------------
# Streaming


def test_stream_yields_each_chunk_as_it_arrives(
    server: ScriptServer, client: Client
) -> None:
    """`logs -f` prints a line as soon as the daemon sends it."""
    gate = threading.Event()
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    server.answer(head + b"6\r\nfirst\n\r\n", gate, b"7\r\nsecond\n\r\n0\r\n\r\n")

    chunks = client.stream("/v1/logs?follow=1")
    assert next(chunks) == b"first\n"  # the server holds the rest back
    gate.set()
    assert list(chunks) == [b"second\n"]
    assert server.requests[0][0] == "GET /v1/logs?follow=1 HTTP/1.1"


def test_stream_of_a_content_length_body(server: ScriptServer, client: Client) -> None:
    server.answer(reply("200 OK", b"a\nb\n"))
    assert b"".join(client.stream("/v1/logs")) == b"a\nb\n"


def test_stream_error_status_raises_before_yielding(
    server: ScriptServer, client: Client
) -> None:
    server.answer(json_reply("404 Not Found", {"error": "no program 'x'"}))
    with pytest.raises(UnknownName, match="no program 'x'"):
        next(client.stream("/v1/logs?names=x"))


def test_stream_left_early_closes_its_socket(server: ScriptServer, client: Client) -> None:
    """Leaving a follow (Ctrl-C, closed pipe) releases the connection."""
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    server.answer(head + b"2\r\nx\n\r\n", ExpectClose())
    chunks = client.stream("/v1/logs?follow=1")
    assert next(chunks) == b"x\n"
    # Annotated as an Iterator, it is a generator: close() runs its finally.
    assert isinstance(chunks, GeneratorType)
    chunks.close()
    server.close()  # returns once the server read EOF, or raises
    assert server.saw_close


def test_stream_connects_only_when_iterated(tmp_path: Path) -> None:
    chunks = Client(str(tmp_path / "absent.sock")).stream("/v1/logs")
    with pytest.raises(NotRunning):
        next(chunks)


# ---------------------------------------------------------------------------
# No daemon


def test_no_socket_is_not_running(tmp_path: Path) -> None:
    path = str(tmp_path / "corral.sock")
    with pytest.raises(NotRunning) as info:
        Client(path).request("GET", "/v1/info")
    assert str(info.value) == f"no daemon is running (no socket at {path})"
    assert info.value.exit_status == 3
    assert isinstance(info.value, ConnectionError)


def test_stale_socket_is_not_running(tmp_path: Path) -> None:
    """A socket file left by a daemon that died: nobody listens on it."""
    path = str(tmp_path / "corral.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(path)
    assert os.path.exists(path)
    with pytest.raises(NotRunning, match="no daemon is running"):
        Client(path).request("GET", "/v1/info")


def test_socket_path_through_a_file_is_not_running(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    path = str(tmp_path / "file" / "corral.sock")
    with pytest.raises(NotRunning, match=r"cannot reach the daemon at .*: Not a directory$"):
        Client(path).request("GET", "/v1/info")


def test_regression_too_long_socket_path_says_why(tmp_path: Path) -> None:
    """AF_UNIX paths end at 107 bytes; the message must say so, not 'None'."""
    path = str(tmp_path / ("d" * 120) / "corral.sock")
    with pytest.raises(NotRunning) as info:
        Client(path).request("GET", "/v1/info")
    assert not str(info.value).endswith("None")


@pytest.mark.skipif(os.geteuid() == 0, reason="root connects through any mode")
def test_socket_of_another_user_is_a_control_error(tmp_path: Path) -> None:
    path = str(tmp_path / "corral.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(path)
        sock.listen(1)
        os.chmod(path, 0)
        with pytest.raises(ControlError, match="permission denied"):
            Client(path).request("GET", "/v1/info")


def test_client_timeout_is_a_control_error(tmp_path: Path) -> None:
    """A daemon that accepts but never answers: the timeout ends the wait."""
    path = str(tmp_path / "corral.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(path)
        sock.listen(1)  # the kernel accepts for us; nobody ever answers
        with pytest.raises(ControlError, match="did not answer within"):
            Client(path, timeout=EXPIRING_TIMEOUT).request("GET", "/v1/info")


# ---------------------------------------------------------------------------
# raise_for and Response, on their own


@pytest.mark.parametrize("status", [200, 201, 204, 301, 399])
def test_raise_for_accepts_statuses_below_400(status: int) -> None:
    raise_for(status, {"error": "ignored"})


@pytest.mark.parametrize("reply_body", [[], "text", None, 3])
def test_raise_for_with_a_reply_that_is_not_an_object(reply_body: Any) -> None:
    with pytest.raises(ControlError, match=r"^the daemon answered 502$"):
        raise_for(502, reply_body)


def test_raise_for_with_an_empty_error_uses_the_status() -> None:
    with pytest.raises(UnknownName, match=r"^the daemon answered 404$"):
        raise_for(404, {"error": ""})


def test_response_json_refuses_bytes_that_are_not_utf8() -> None:
    with pytest.raises(ControlError, match="not JSON"):
        Response(200, {}, b"\xff\xfe").json()


# ---------------------------------------------------------------------------
# _Reader, one byte per recv


class Trickle:
    """A socket whose recv hands out one byte at a time, then EOF."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls = 0

    def recv(self, size: int) -> bytes:
        self.calls += 1
        piece, self.data = self.data[:1], self.data[1:]
        return piece


@pytest.mark.parametrize(
    ("data", "body"),
    [
        (reply("200 OK", b'{"x": 1}'), [b'{"x": 1}']),
        (chunked("200 OK", b"ab", b"c" * 20), [b"ab", b"c" * 20]),
        (b"HTTP/1.1 200 OK\r\n\r\nuntil the end", [b"until the end"]),
    ],
    ids=["content-length", "chunked", "until-close"],
)
def test_reader_on_a_trickle(data: bytes, body: list[bytes]) -> None:
    reader = _Reader(Trickle(data))
    status, headers = reader.head()
    assert status == 200
    assert list(reader.body(headers)) == body


def test_reader_keeps_what_it_read_ahead() -> None:
    """Bytes past the head that arrived in the same recv belong to the body."""

    class Once:
        def __init__(self) -> None:
            self.sent = False

        def recv(self, size: int) -> bytes:
            if self.sent:
                return b""
            self.sent = True
            return reply("201 Created", b"[]", "X-Extra:  spaced value ")

    reader = _Reader(Once())
    status, headers = reader.head()
    assert status == 201
    assert headers == {"x-extra": "spaced value", "content-length": "2"}
    assert list(reader.body(headers)) == [b"[]"]
