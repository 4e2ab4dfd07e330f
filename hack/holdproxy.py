"""A forwarding proxy that can hold back one answer, to land a fault inside a call.

It sits between the operator and a server (the kube-apiserver over TLS, or OPA) and forwards
every request as it is, streaming answers (watches) through. Armed with a rule, it forwards the
first request that matches and holds that request's answer back until released: the server has
done the work (the action is applied, the decision made) but the caller has not heard of it.
The chaos benchmark kills the operator at that moment, inside the act or inside the gate,
which a kill at a random time almost never hits.
"""

from __future__ import annotations

import contextlib
import http.client
import ssl
import sys
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

Rule = Callable[[str, str, bytes], bool]
"""Whether to hold the answer to a request: (method, path with query, body)."""

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer",
                        "upgrade", "proxy-authorization", "proxy-authenticate"})


@dataclass(eq=False)
class Hold:
    """One armed rule; ``caught`` is set once an answer is held back."""

    rule: Rule
    on_catch: Callable[[Hold], None] | None = None  # runs in the proxy, the answer held
    caught: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    request: str = ""

    def release(self) -> None:
        self.released.set()


class HoldProxy:
    """A proxy on a free loopback port in front of ``upstream`` (http:// or https://)."""

    def __init__(self, upstream: str, serve_tls: tuple[Path, Path] | None = None,
                 max_hold: float = 120.0) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_tls = parsed.scheme == "https"
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.serve_tls = serve_tls
        self.max_hold = max_hold
        self._holds: list[Hold] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        scheme = "https" if self.serve_tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        proxy = self

        class Handler(_Forward):
            owner = proxy

        server = _Server(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        if self.serve_tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*map(str, self.serve_tls))
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, name="holdproxy", daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            for hold in self._holds:
                hold.release()
            self._holds.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def arm(self, rule: Rule, on_catch: Callable[[Hold], None] | None = None) -> Hold:
        """Hold the answer of the next request matching ``rule``; then call ``on_catch``."""
        hold = Hold(rule, on_catch)
        with self._lock:
            self._holds.append(hold)
        return hold

    def disarm(self, hold: Hold) -> None:
        with self._lock:
            if hold in self._holds:
                self._holds.remove(hold)
        hold.release()

    def _take(self, method: str, path: str, body: bytes) -> Hold | None:
        with self._lock:
            for hold in self._holds:
                if hold.rule(method, path, body):
                    self._holds.remove(hold)
                    hold.request = f"{method} {path}"
                    return hold
        return None

    def _connect(self) -> http.client.HTTPConnection:
        host, port = self.upstream
        if self.upstream_tls:
            return http.client.HTTPSConnection(host, port,
                                               context=ssl._create_unverified_context())
        return http.client.HTTPConnection(host, port)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # A caller killed mid-request (which is the point) is no error of the proxy's.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Forward(BaseHTTPRequestHandler):
    owner: HoldProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def do_GET(self) -> None:
        self._forward()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = self.owner._connect()
        try:
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            answer = upstream.getresponse()
        except (OSError, http.client.HTTPException):
            # The server is down: the caller sees its connection dropped, as without a proxy.
            self.close_connection = True
            upstream.close()
            return
        try:
            hold = self.owner._take(self.command, self.path, body)
            bodiless = self.command == "HEAD" or answer.status in (204, 304) \
                or 100 <= answer.status < 200
            streamed = answer.getheader("Content-Length") is None and not bodiless
            data = b""
            if hold is not None:
                data = answer.read()
                streamed = False
                hold.caught.set()
                if hold.on_catch is not None:
                    hold.on_catch(hold)
                hold.released.wait(self.owner.max_hold)
            self.send_response_only(answer.status, answer.reason)
            for key, value in answer.getheaders():
                if key.lower() in HOP_BY_HOP or (key.lower() == "content-length" and hold):
                    continue
                self.send_header(key, value)
            if hold is not None:
                self.send_header("Content-Length", str(len(data)))
            if streamed:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if hold is not None:
                self.wfile.write(data)
            elif streamed:
                while chunk := answer.read1(65536):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            elif not bodiless:
                self.wfile.write(answer.read())
            self.wfile.flush()
        except (OSError, http.client.HTTPException):
            self.close_connection = True
        finally:
            with contextlib.suppress(OSError):
                upstream.close()

