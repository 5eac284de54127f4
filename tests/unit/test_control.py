"""The control server against hostile input: every request ends in an
answer or a closed connection, never in an unhandled exception."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.control import Api, ControlServer
from corral.errors import ActionFailed, UnknownName


class FakeStream:
    def __init__(self, name: str) -> None:
        self.name = name
        self.program = name.partition(".")[0]
        self.carries = {"stdout", "stderr"}
        self.shared = False
        self.file = None

    def last_lines(self, count: int, own: bool = False) -> bytes:
        return b"a line\n" * min(count, 3)


class FakeProcess:
    def __init__(self, name: str) -> None:
        self.name = name
        stream = FakeStream(name)
        self.outputs: dict[str, Any] = {"stdout": stream, "stderr": stream}


class FakeSupervisor:
    """Answers like the real one, without processes."""

    names = ("web", "web.0", "db", "db.0")

    async def settled(self) -> None:
        pass

    def resolve(self, names: list[str], all_: bool = False) -> list[FakeProcess]:
        if all_:
            return [FakeProcess("web.0"), FakeProcess("db.0")]
        for name in names:
            if name not in self.names:
                raise UnknownName(f"no program or process named {name!r}")
        return [FakeProcess(n) for n in names]

    def status(self, names: list[str]) -> list[dict[str, Any]]:
        self.resolve(names)
        return [{"name": "web.0"}]

    async def _act(self, processes: list[FakeProcess]) -> list[dict[str, Any]]:
        return [{"name": p.name, "ok": True, "message": "done"} for p in processes]

    start = stop = restart = _act

    def signal(self, name: str, sig: int, target: str) -> list[dict[str, Any]]:
        self.resolve([name])
        if name == "db":
            raise ActionFailed("nothing to signal: db.0 stopped")
        return [{"name": name, "ok": True, "message": "sent"}]

    async def scale(self, name: str, count: int) -> list[dict[str, Any]]:
        self.resolve([name])
        return []

    def reopen_logs(self) -> int:
        return 0


class FakeDaemon:
    def __init__(self) -> None:
        self.supervisor = FakeSupervisor()
        self.config = type("C", (), {"path": "corral.toml", "state_dir": "."})()

    async def shutdown(self, why: str) -> None:
        pass

    async def reload(self) -> dict[str, list[str]]:
        return {"added": []}

    def reopen_logs(self) -> int:
        return 0


class Failures(logging.Handler):
    """Collects log records of unexpected errors."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def socket_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="corral-ctl-") as path:
        yield path


async def exchange(path: str, data: bytes) -> bytes:
    server = ControlServer(Api(FakeDaemon()), path)
    await server.start()
    try:
        reader, writer = await asyncio.open_unix_connection(path)
        try:
            writer.write(data)
            await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except ConnectionError:
            pass
        try:
            async with asyncio.timeout(5):
                answer = await reader.read()
        except ConnectionError:
            answer = b""
        writer.close()
        return answer
    finally:
        await server.close()


def run(path: str, data: bytes) -> tuple[bytes, list[logging.LogRecord]]:
    failures = Failures()
    logger = logging.getLogger("corral")
    logger.addHandler(failures)
    try:
        answer = asyncio.run(exchange(path, data))
    finally:
        logger.removeHandler(failures)
    return answer, failures.records


def status_of(answer: bytes) -> int | None:
    if not answer:
        return None
    first = answer.split(b"\r\n", 1)[0].split(b" ")
    assert first[0] == b"HTTP/1.1", answer[:80]
    return int(first[1])


def post(path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: corral\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


ROUTES = ["/v1/start", "/v1/stop", "/v1/restart", "/v1/signal", "/v1/scale",
          "/v1/reopen", "/v1/reload", "/v1/down"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
bodies = st.dictionaries(
    st.sampled_from(["names", "all", "name", "signal", "target", "count", "x"]),
    json_values | st.sampled_from(["web", "db", "web.0", "HUP", "NOPE", "tree"]),
    max_size=5,
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600))
def test_random_bytes_get_an_answer_or_a_close(socket_dir: str, data: bytes) -> None:
    answer, failures = run(os.path.join(socket_dir, "s"), data)
    assert not failures, [r.getMessage() for r in failures]
    status = status_of(answer)
    assert status is None or 200 <= status < 600


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), body=bodies)
def test_random_json_bodies_are_answered_without_internal_errors(
    socket_dir: str, route: str, body: dict[str, Any]
) -> None:
    answer, failures = run(os.path.join(socket_dir, "s"),
                           post(route, json.dumps(body).encode()))
    assert not failures, [r.getMessage() for r in failures]
    status = status_of(answer)
    assert status in (200, 400, 404, 409, 422), answer[:300]
    payload = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    if status != 200:
        assert isinstance(payload["error"], str) and "\n" not in payload["error"]


@pytest.mark.parametrize("query", ["n=abc", "n=-5", "stream=both", "names=nope",
                                   "n=99999999999999999999", "follow=maybe"])
def test_bad_log_queries_are_refused(socket_dir: str, query: str) -> None:
    request = f"GET /v1/logs?{query} HTTP/1.1\r\nHost: corral\r\n\r\n".encode()
    answer, failures = run(os.path.join(socket_dir, "s"), request)
    assert not failures
    assert status_of(answer) in (200, 400, 404)
