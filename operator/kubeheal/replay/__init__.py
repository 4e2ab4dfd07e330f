"""``kubeheal replay``: what a Runbook would have done over Prometheus history.

- :mod:`~kubeheal.replay.loop`: the replay itself, a driver of the live loop's detection,
  diagnosis and decision fed with history and historical time.
- :mod:`~kubeheal.replay.sources`: the Runbook, Deployments, ReplicaSets, Prometheus history
  and the policy engine, read with the user's own credentials.
- :mod:`~kubeheal.replay.render`: the incidents and the summary as a table or JSON.

Nothing is executed and nothing is written to the cluster.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from kubeheal.api.runbook import Runbook
from kubeheal.observe.kubernetes import KubernetesReader
from kubeheal.observe.prometheus import PrometheusClient
from kubeheal.policy import PolicyGate
from kubeheal.replay.loop import Replay, Window, decide, detect
from kubeheal.replay.sources import (
    OpaEval,
    ReplayError,
    read_history,
    runbook_from_cluster,
    runbook_from_file,
)

__all__ = ["ReplayError", "Window", "parse_moment", "parse_step", "replay"]

_STEP = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)?$")


def parse_moment(text: str, now: dt.datetime, flag: str) -> dt.datetime:
    """A moment given as a time ago (``24h``, ``90m``, ``7d``) or an RFC 3339 timestamp.

    >>> now = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    >>> parse_moment("24h", now, "--since"), parse_moment("2026-01-01T06:00:00Z", now, "--until")
    (datetime.datetime(2026, 1, 1, 0, 0, tzinfo=datetime.timezone.utc), \
datetime.datetime(2026, 1, 1, 6, 0, tzinfo=datetime.timezone.utc))
    >>> parse_moment("yesterday", now, "--since")
    Traceback (most recent call last):
    ...
    ValueError: --since 'yesterday': expected a time ago (90m, 24h, 7d) or an RFC 3339 time
    """
    from kubeheal.outcomes.render import parse_since

    try:
        return now - parse_since(text)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{flag} {text!r}: expected a time ago (90m, 24h, 7d) or an RFC 3339 "
                         "time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def parse_step(text: str) -> float:
    """A step such as ``15s``, ``1m`` or ``30`` (seconds).

    >>> parse_step("15s"), parse_step("1m"), parse_step("30")
    (15.0, 60.0, 30.0)
    """
    found = _STEP.match(text.strip())
    if not found or float(found.group(1)) <= 0:
        raise ValueError(f"--step {text!r}: expected a positive duration such as 15s or 1m")
    return float(found.group(1)) * {"s": 1, "m": 60, "h": 3600}[found.group(2) or "s"]


async def replay(api: Any, namespace: str, name: str | None, file: Path | None,
                 since: dt.datetime, until: dt.datetime, step: float | None,
                 prometheus_url: str, opa_url: str | None, opa_binary: str,
                 policies: Path, mode: str | None = None) -> tuple[Runbook, Replay]:
    """Read the runbook and its history, replay it from ``since`` to ``until`` every ``step``
    seconds (default: the runbook's interval), and decide each incident; as if the runbook
    were in ``mode`` when given (a dry-run runbook replayed as ``enforce`` shows what
    enforcing it would have done, and what the policies would have said)."""
    if until <= since:
        raise ReplayError(f"--until {until.isoformat()} is not after --since {since.isoformat()}")
    reader = KubernetesReader(api)
    if file is not None:
        runbook = runbook_from_file(file, namespace)
    else:
        assert name is not None
        runbook = await runbook_from_cluster(reader, namespace, name)
    if mode is not None:
        runbook.spec.mode = mode  # type: ignore[assignment]
    window = Window(since, until, step or float(runbook.spec.interval_seconds))
    async with PrometheusClient(prometheus_url, timeout=60.0) as prometheus:
        history, labels = await read_history(reader, prometheus, runbook, window)
    found = detect(runbook, history, window)
    if opa_url is not None:
        async with PolicyGate(opa_url, timeout=10.0) as gate:
            await decide(runbook, history, found, gate.decide, labels)
    else:
        await decide(runbook, history, found, OpaEval(opa_binary, policies).decide, labels)
    return runbook, found
