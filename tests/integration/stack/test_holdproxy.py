"""The proxy that lets the chaos benchmark land a fault inside a call: it forwards everything,
streams answers through, and holds back the one answer it is armed for until released, after
the server has done the work."""

from __future__ import annotations

import http.client
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from holdproxy import Hold, HoldProxy


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self.seen.append(f"GET {self.path}")
        if self.path.startswith("/stream"):  # no Content-Length: chunked, like a watch
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"one\n", b"two\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        self._answer(b"hello")

    def do_PUT(self) -> None:  # like OPA loading a policy: 204, no body, no Content-Length
        self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(f"PUT {self.path}")
        self.send_response(204)
        self.end_headers()

    def do_PATCH(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(f"PATCH {self.path} {body.decode()}")
        self._answer(b"patched")

    def _answer(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def proxy() -> Iterator[HoldProxy]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    front = HoldProxy(f"http://127.0.0.1:{server.server_address[1]}")
    front.start()
    Upstream.seen.clear()
    yield front
    front.stop()
    server.shutdown()
    server.server_close()


def fetch(url: str, method: str = "GET", data: bytes | None = None) -> bytes:
    request = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(request, timeout=10) as answer:
        body: bytes = answer.read()
        return body


def test_forwards_and_streams(proxy: HoldProxy) -> None:
    assert fetch(f"{proxy.url}/plain?x=1") == b"hello"
    assert fetch(f"{proxy.url}/stream") == b"one\ntwo\n"
    assert Upstream.seen == ["GET /plain?x=1", "GET /stream"]


def test_keeps_the_connection_usable_after_an_answer_without_body(proxy: HoldProxy) -> None:
    host, port = proxy.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("PUT", "/v1/policies/p", body=b"package p")
    first = connection.getresponse()
    assert (first.status, first.read()) == (204, b"")
    connection.request("GET", "/plain")  # the same connection, kept alive
    second = connection.getresponse()
    assert (second.status, second.read()) == (200, b"hello")
    connection.close()


def test_holds_the_armed_answer_after_the_server_acted(proxy: HoldProxy) -> None:
    caught: list[str] = []
    hold = proxy.arm(lambda method, path, body: method == "PATCH" and b"replicas" in body,
                     on_catch=lambda h: caught.append(h.request))
    answers: list[bytes] = []
    caller = threading.Thread(target=lambda: answers.append(
        fetch(f"{proxy.url}/apis/d", "PATCH", b'{"spec": {"replicas": 4}}')))
    caller.start()
    assert hold.caught.wait(10)
    # The server has applied the call; its answer has not reached the caller.
    assert Upstream.seen == ['PATCH /apis/d {"spec": {"replicas": 4}}']
    assert caught == ["PATCH /apis/d"]
    caller.join(0.3)
    assert caller.is_alive() and answers == []
    hold.release()
    caller.join(10)
    assert answers == [b"patched"]
    # Armed once: the next matching call goes straight through.
    assert fetch(f"{proxy.url}/apis/d", "PATCH", b'{"spec": {"replicas": 5}}') == b"patched"


def test_a_disarmed_rule_holds_nothing(proxy: HoldProxy) -> None:
    hold: Hold = proxy.arm(lambda method, path, body: True)
    proxy.disarm(hold)
    assert fetch(f"{proxy.url}/plain") == b"hello"
    assert not hold.caught.is_set()
