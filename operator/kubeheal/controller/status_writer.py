"""Runbook status writes, off the evaluation path.

An evaluation hands its runbook's status to :meth:`StatusWriter.submit` and goes on: it never
waits for the API server. The writer keeps at most one pending status per runbook (a newer
one replaces it: latest wins), drops what :func:`~kubeheal.controller.runbook_status.needs_write`
says no reader needs (an unchanged status within the heartbeat), and writes the rest with a
few workers, one write at a time per runbook, so status writes take a bounded share of the
client's threads however many runbooks there are. Once written, a status stands until the
next change or heartbeat; a write that fails is tried again with the runbook's next status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from kubeheal.api.runbook import STATUS_HEARTBEAT_SECONDS
from kubeheal.controller.runbook_status import needs_write
from kubeheal.controller.store import Json, ObjectStore
from kubeheal.observe.kubernetes import KubernetesError

log = logging.getLogger(__name__)

STATUS_WORKERS = 4
"""Runbook status writes in flight at once."""

Key = tuple[str, str]  # (namespace, name)


class StatusWriter:
    """Coalesced, bounded Runbook status writes (see the module's docstring)."""

    def __init__(self, store: ObjectStore, workers: int = STATUS_WORKERS,
                 heartbeat: float = STATUS_HEARTBEAT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.workers = workers
        self.heartbeat = heartbeat
        self.clock = clock
        self._pending: dict[Key, Json] = {}
        self._written: dict[Key, tuple[Json, float]] = {}
        self._in_flight: set[Key] = set()
        self._queue: asyncio.Queue[Key] = asyncio.Queue()  # each key at most once
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()

    def submit(self, namespace: str, name: str, patch: Json) -> None:
        """Write ``patch`` to the runbook's status soon, unless no reader needs it."""
        key = (namespace, name)
        if key in self._pending:  # queued already: the newer status goes instead
            self._pending[key] = patch
            return
        if not self._needed(key, patch):
            return
        self._pending[key] = patch
        if key not in self._in_flight:  # else the write under way queues it when done
            self._queue.put_nowait(key)

    def forget(self, namespace: str, name: str) -> None:
        """The runbook is gone: nothing more to write for it."""
        key = (namespace, name)
        self._pending.pop(key, None)
        self._written.pop(key, None)

    @property
    def idle(self) -> bool:
        """Whether no status waits to be written and none is being written."""
        return not self._pending and not self._in_flight

    def _needed(self, key: Key, patch: Json) -> bool:
        written, at = self._written.get(key, (None, None))
        return needs_write(written, at, patch, self.clock(), self.heartbeat)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            patch = self._pending.pop(key, None)
            if patch is None or not self._needed(key, patch):
                continue
            self._in_flight.add(key)
            try:
                await self.store.patch_status("runbooks", key[0], key[1], patch)
                self._written[key] = (patch, self.clock())
            except KubernetesError as e:
                if e.kind == "not-found":
                    self.forget(*key)
                else:
                    log.warning("runbook %s/%s: status not written: %s", key[0], key[1], e)
            except Exception:  # a writer never dies: the next status tries again
                log.exception("runbook %s/%s: status not written", key[0], key[1])
            finally:
                self._in_flight.discard(key)
                if key in self._pending:
                    self._queue.put_nowait(key)
