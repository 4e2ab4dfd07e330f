"""A real HTTP receiver of notifications on 127.0.0.1, for the tests.

It records every POST it gets and answers the first ``fail_first`` deliveries of each distinct
body (a retry sends the very same bytes) with ``fail_status``, then accepts; with ``hold``
cleared, it keeps each request waiting until the test sets it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True)
class Delivery:
    """One POST as received, and the status it was answered with."""

    path: str
    body: Json
    status: int


@dataclass
class LocalReceiver:
    fail_first: int = 0
    fail_status: int = 503
    hold: threading.Event = field(default_factory=threading.Event)
    deliveries: list[Delivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self.hold.set()  # answer at once unless a test clears it

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LocalReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.hold.wait(60)
                with receiver._lock:
                    seen = sum(1 for d in receiver.deliveries
                               if d.path == self.path and d.body == json.loads(raw))
                    status = receiver.fail_status if seen < receiver.fail_first else 200
                    receiver.deliveries.append(Delivery(self.path, json.loads(raw), status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.hold.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def received(self, path: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.path == path]

    def accepted(self, path: str) -> Iterator[Json]:
        """The bodies answered with a 2xx, in order."""
        return (d.body for d in self.received(path) if d.status < 300)

    def statuses(self, path: str, body: Json) -> list[int]:
        """What each delivery of this very body was answered with, in order."""
        return [d.status for d in self.received(path) if d.body == body]

    def wait_for(self, path: str, wanted: Callable[[Json], bool], timeout: float) -> Json:
        """The first accepted body at ``path`` that ``wanted`` likes, waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((b for b in self.accepted(path) if wanted(b)), None)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no notification at {path} as wanted within {timeout}s; "
                                     f"got {[d.body for d in self.received(path)]}")
            time.sleep(0.2)
