"""Watch-backed caches of API objects: list once, then watch; reads cost the API server nothing.

A :class:`WatchedObjects` is what client-go calls an informer: it lists a kind of object once,
then watches it from the list's ``resourceVersion`` (with bookmarks, so that a reconnection
resumes where it stopped), and lists again only when the server says that version is gone
(410 Gone) or after an error. One cache serves every runbook: a thousand runbooks evaluated
every interval read their Deployments from memory, not with a thousand LISTs.

The watch runs in a thread of its own (the official client is synchronous); readers on the
event loop get copies under a lock. A cache that has not listed yet, or lost its watch and
has not listed again, is not *synced*: its reads raise ``KubernetesError("unavailable")``,
as a LIST would have while the API server was unreachable. What acts on an object still
reads it fresh from the API server: a cache is for looking, not for deciding to write.

    deployments = WatchedObjects.deployments(api_client, namespaces=())  # cluster-wide
    deployments.start()
    await deployments.wait_synced()
    web = deployments.in_namespace("shop", LabelSelector(match_labels={"app": "web"}))
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubeheal.api.base import GROUP, VERSION, LabelSelector
from kubeheal.observe.kubernetes import Json, KubernetesError, kubernetes_error

log = logging.getLogger(__name__)

WATCH_SECONDS: Final = 300  # the server ends each watch after this; it resumes at once
RETRY_SECONDS: Final = (1.0, 30.0)  # back-off after a failed list or watch: first, at most
PAGE: Final = 500  # objects per page of a LIST


def lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The complete lines of a chunked stream (a watch sends one JSON event per line).

    >>> list(lines([b'{"a"', b': 1}\\n{"b": 2}\\n', b'{"c"']))
    [b'{"a": 1}', b'{"b": 2}']
    """
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from (line for line in complete if line.strip())


def slim(obj: Json) -> Json:
    """An object as the cache keeps it: without ``managedFields``, often half of its size.

    >>> slim({"metadata": {"name": "web", "managedFields": [{"manager": "kubectl"}]}})
    {'metadata': {'name': 'web'}}
    """
    obj.get("metadata", {}).pop("managedFields", None)
    return obj


class _Watch:
    """One list-then-watch loop over one list call (cluster-wide or one namespace)."""

    def __init__(self, name: str, list_call: Callable[..., Any], timeout: float) -> None:
        self.name = name
        self.list_call = list_call
        self.timeout = timeout
        self.objects: dict[str, dict[str, Json]] = {}  # namespace -> name -> object
        self.synced = threading.Event()
        self.lists = 0  # how many times it listed (one, unless the watch was lost)
        self.problem = "not listed yet"
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self._response: Any = None

    def run(self) -> None:
        delay = RETRY_SECONDS[0]
        while not self.stopped.is_set():
            try:
                self._watch(self._list())
                delay = RETRY_SECONDS[0]
            except Exception as e:  # the thread lives on whatever the server or network did
                if self.stopped.is_set():
                    return
                self.synced.clear()
                self.problem = (str(kubernetes_error(e)) if isinstance(
                    e, ApiException | urllib3.exceptions.HTTPError) else f"{type(e).__name__}: {e}")
                log.warning("watch of %s lost (%s); listing again in %.0fs", self.name,
                            self.problem, delay)
                self.stopped.wait(delay)
                delay = min(delay * 2, RETRY_SECONDS[1])

    def stop(self) -> None:
        self.stopped.set()
        response = self._response
        if response is not None:
            # Shutting the socket down wakes the thread blocked reading the stream at once;
            # close() alone would wait for the next event or bookmark (about a minute).
            with contextlib.suppress(ValueError, RuntimeError, OSError):
                response.shutdown()
            response.close()

    def _list(self) -> str:
        """List every object, a page at a time; the version to watch from."""
        objects: dict[str, dict[str, Json]] = {}
        token = None
        while True:
            response = self.list_call(limit=PAGE, _continue=token, _preload_content=False,
                                      _request_timeout=self.timeout)
            body = json.loads(response.data or b"{}")
            for item in body.get("items") or []:
                meta = item.get("metadata", {})
                objects.setdefault(meta.get("namespace", ""), {})[meta.get("name", "")] = \
                    slim(item)
            token = body.get("metadata", {}).get("continue")
            if not token:
                break
        with self.lock:
            self.objects = objects
        self.lists += 1
        self.problem = ""
        self.synced.set()
        version: str = body.get("metadata", {}).get("resourceVersion", "")
        return version

    def _watch(self, version: str) -> None:
        """Apply watch events from ``version`` on; return when it must list again (410)."""
        while not self.stopped.is_set():
            try:
                response = self.list_call(
                    watch=True, resource_version=version, allow_watch_bookmarks=True,
                    timeout_seconds=WATCH_SECONDS, _preload_content=False,
                    _request_timeout=(self.timeout, WATCH_SECONDS + self.timeout))
            except ApiException as e:
                if e.status == 410:  # too old to resume from: list again
                    return
                raise
            self._response = response
            try:
                for line in lines(response.stream(amt=None, decode_content=True)):
                    event = json.loads(line)
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:  # too old: the history was compacted
                            return
                        raise ValueError(f"watch error: {obj.get('message', obj)}")
                    version = obj.get("metadata", {}).get("resourceVersion", version)
                    if kind != "BOOKMARK":
                        self._apply(kind, obj)
            finally:
                self._response = None
                response.release_conn()

    def _apply(self, kind: str, obj: Json) -> None:
        meta = obj.get("metadata", {})
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        with self.lock:
            in_namespace = self.objects.setdefault(namespace, {})
            if kind == "DELETED":
                in_namespace.pop(name, None)
            else:
                in_namespace[name] = slim(obj)


class WatchedObjects:
    """An informer-like cache of one kind, over all namespaces or a few named ones."""

    def __init__(self, kind: str, list_calls: Mapping[str, Callable[..., Any]],
                 timeout: float = 10.0) -> None:
        """``list_calls``: one list method (partially applied) per namespace watched, or
        one for all namespaces under the key ``""``."""
        self.kind = kind
        self._watches = {namespace: _Watch(f"{kind} in {namespace or 'all namespaces'}", call,
                                           timeout)
                         for namespace, call in list_calls.items()}
        self._threads: list[threading.Thread] = []

    @classmethod
    def deployments(cls, api_client: client.ApiClient,
                    namespaces: Sequence[str]) -> WatchedObjects:
        apps = client.AppsV1Api(api_client)
        calls: dict[str, Callable[..., Any]] = (
            {n: functools.partial(apps.list_namespaced_deployment, n) for n in namespaces}
            or {"": apps.list_deployment_for_all_namespaces})
        return cls("deployments", calls)

    @classmethod
    def statefulsets(cls, api_client: client.ApiClient,
                     namespaces: Sequence[str]) -> WatchedObjects:
        apps = client.AppsV1Api(api_client)
        calls: dict[str, Callable[..., Any]] = (
            {n: functools.partial(apps.list_namespaced_stateful_set, n) for n in namespaces}
            or {"": apps.list_stateful_set_for_all_namespaces})
        return cls("statefulsets", calls)

    @classmethod
    def custom(cls, api_client: client.ApiClient, plural: str,
               namespaces: Sequence[str]) -> WatchedObjects:
        """kubeheal's own objects of one kind (``runbooks``, ``remediations``...)."""
        objects = client.CustomObjectsApi(api_client)
        calls: dict[str, Callable[..., Any]] = (
            {n: functools.partial(objects.list_namespaced_custom_object, GROUP, VERSION, n,
                                  plural) for n in namespaces}
            or {"": functools.partial(objects.list_cluster_custom_object, GROUP, VERSION,
                                      plural)})
        return cls(plural, calls)

    def start(self) -> None:
        for watch in self._watches.values():
            thread = threading.Thread(target=watch.run, name=f"watch {watch.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for watch in self._watches.values():
            watch.stop()

    @property
    def synced(self) -> bool:
        return all(w.synced.is_set() for w in self._watches.values())

    @property
    def lists(self) -> int:
        """How many LISTs the cache made in all (one per namespace watched, unless lost)."""
        return sum(w.lists for w in self._watches.values())

    async def wait_synced(self, poll: float = 0.1) -> None:
        while not self.synced:
            await asyncio.sleep(poll)

    def _watch_of(self, namespace: str) -> _Watch:
        watch = self._watches.get(namespace) or self._watches.get("")
        if watch is None:
            raise KubernetesError("forbidden", f"namespace {namespace} is not watched")
        if not watch.synced.is_set():
            raise KubernetesError("unavailable", f"the cache of {watch.name} is not synced: "
                                                 f"{watch.problem}")
        return watch

    def in_namespace(self, namespace: str, selector: LabelSelector | None = None,
                     labels: Mapping[str, str] | None = None) -> list[Json]:
        """The objects of ``namespace`` whose labels match ``selector`` and ``labels``."""
        watch = self._watch_of(namespace)
        with watch.lock:
            items = list(watch.objects.get(namespace, {}).values())
        wanted = dict(labels or {})
        return [o for o in items
                if _has(o, wanted) and (selector is None or selector.matches(_labels_of(o)))]

    def get(self, namespace: str, name: str) -> Json | None:
        """The object as last seen, or None when the cache has not seen it (yet)."""
        watch = self._watch_of(namespace)
        with watch.lock:
            return watch.objects.get(namespace, {}).get(name)


def _labels_of(obj: Json) -> dict[str, str]:
    labels: dict[str, str] = obj.get("metadata", {}).get("labels") or {}
    return labels


def _has(obj: Json, labels: Mapping[str, str]) -> bool:
    own = _labels_of(obj)
    return all(own.get(k) == v for k, v in labels.items())


@dataclass(frozen=True)
class ClusterView:
    """The caches the operator reads each interval: the workloads (Deployments and
    StatefulSets) and kubeheal's own objects."""

    deployments: WatchedObjects
    runbooks: WatchedObjects
    remediations: WatchedObjects
    slos: WatchedObjects
    statefulsets: WatchedObjects

    @classmethod
    def watch(cls, api_client: client.ApiClient, namespaces: Sequence[str]) -> ClusterView:
        """The view of ``namespaces`` (all when empty); call :meth:`start` to fill it."""
        return cls(
            deployments=WatchedObjects.deployments(api_client, namespaces),
            runbooks=WatchedObjects.custom(api_client, "runbooks", namespaces),
            remediations=WatchedObjects.custom(api_client, "remediations", namespaces),
            slos=WatchedObjects.custom(api_client, "servicelevelobjectives", namespaces),
            statefulsets=WatchedObjects.statefulsets(api_client, namespaces),
        )

    @property
    def caches(self) -> tuple[WatchedObjects, ...]:
        return (self.deployments, self.runbooks, self.remediations, self.slos,
                self.statefulsets)

    def workloads(self, kind: str) -> WatchedObjects:
        """The cache of the workloads of ``kind`` (Deployment or StatefulSet)."""
        return self.statefulsets if kind == "StatefulSet" else self.deployments

    def start(self) -> None:
        for cache in self.caches:
            cache.start()

    def stop(self) -> None:
        for cache in self.caches:
            cache.stop()

    async def wait_synced(self) -> None:
        for cache in self.caches:
            await cache.wait_synced()
