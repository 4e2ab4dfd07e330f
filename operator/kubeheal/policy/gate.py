"""The policy gate: asks a real OPA server whether an action may run, and fails closed.

:class:`PolicyGate` talks to OPA through opa-python-client's ``AsyncOpaClient``. At start
the operator loads its policies and guardrail configuration into OPA (:meth:`PolicyGate.load`
or :meth:`PolicyGate.load_bundle`) and gets back the version that names them; OPA keeps that
version at ``data.kubeheal.meta.version`` and returns it in every decision, so each decision
records the policies it was actually made under.

:meth:`PolicyGate.decide` never raises. OPA unreachable, slower than ``timeout``, an HTTP
error, no decision document (policies not loaded), or an answer that is not a decision:
each is a denial whose reason starts with ``policy engine unavailable:``, which the
controller shows as a status condition and an Event (``PolicyDecision.condition_reason`` and
``PolicyDecision.message``). The one thing that propagates is cancellation of the caller.

If OPA answers that no decision exists although this gate loaded policies (an OPA sidecar
restarted and lost its in-memory store), the gate loads them again once and asks again,
within the same deadline.

Use::

    async with PolicyGate("http://127.0.0.1:8181", timeout=0.5) as gate:
        version = await gate.load_bundle(read_policy_directory("policies"))
        decision = await gate.decide(policy_input)
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from opa_client import AsyncOpaClient

from kubeheal.decide.policy_input import PolicyInput
from kubeheal.policy.bundle import PolicyBundle, policy_version
from kubeheal.policy.decision import PolicyDecision, parse_decision


class PolicyLoadError(Exception):
    """Policies or data could not be loaded into OPA; the message says why."""


@dataclass(frozen=True)
class _Loaded:
    policies: Mapping[str, str]
    config: Mapping[str, Any]
    version: str


def describe_error(err: BaseException) -> str:
    """A short, actionable description of what went wrong talking to OPA.

    >>> describe_error(TimeoutError())
    'TimeoutError'
    >>> describe_error(ValueError("bad"))
    'ValueError: bad'
    """
    if isinstance(err, aiohttp.ClientResponseError):
        return f"HTTP {err.status} {err.message}".strip()
    message = getattr(err, "message", None)  # opa_client errors keep theirs there
    if isinstance(message, str) and message:
        return f"{type(err).__name__}: {message}"
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


class PolicyGate:
    """An async client for ``data.kubeheal.decision`` on one OPA server.

    Parameters:
        url: OPA's address, ``http://host:port`` (``https`` for TLS).
        timeout: seconds a decision may take, end to end, before it is a denial.
        load_timeout: seconds loading policies and data may take.
        decision_path: the decision document, as a data path.
        config_path: where the guardrail configuration goes (``data.kubeheal.config``).
        meta_path: where the policy version goes (``data.kubeheal.meta``).
        policy_id_prefix: prefix of the OPA policy ids this gate owns; stale policies with
            that prefix are deleted on load, others are left alone.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.5,
        load_timeout: float = 10.0,
        decision_path: str = "kubeheal/decision",
        config_path: str = "kubeheal/config",
        meta_path: str = "kubeheal/meta",
        policy_id_prefix: str = "kubeheal/",
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"OPA url must look like http://host:port, not {url!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.load_timeout = load_timeout
        self.decision_path = decision_path.strip("/")
        self.config_path = config_path.strip("/")
        self.meta_path = meta_path.strip("/")
        self.policy_id_prefix = policy_id_prefix
        self._client = AsyncOpaClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 8181),
            ssl=parts.scheme == "https",
            timeout=load_timeout,
            retries=0,  # a decision fails closed now rather than after back-offs
        )
        self._open = False
        self._loaded: _Loaded | None = None
        self._load_lock = asyncio.Lock()

    @property
    def version(self) -> str | None:
        """The version of the policies and data this gate last loaded."""
        return None if self._loaded is None else self._loaded.version

    async def open(self) -> None:
        """Open the HTTP session (connections are pooled and kept alive)."""
        if not self._open:
            await self._client.__aenter__()
            self._open = True

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._open:
            self._open = False
            await self._client.close_connection()

    async def __aenter__(self) -> PolicyGate:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def healthy(self) -> bool:
        """Whether OPA answers its health check; never raises."""
        if not self._open:
            return False
        try:
            return bool(await asyncio.wait_for(self._client.check_health(), self.timeout))
        except Exception:
            return False

    async def load_bundle(self, bundle: PolicyBundle) -> str:
        """Load a :class:`PolicyBundle`; see :meth:`load`."""
        return await self.load(bundle.policies, bundle.config)

    async def load(self, policies: Mapping[str, str], data: Mapping[str, Any]) -> str:
        """Put ``data`` at ``config_path``, every policy (id -> Rego text) under
        ``policy_id_prefix``, delete the gate's stale policies, record the version, and
        return it. Raises :class:`PolicyLoadError` (only) when OPA refuses or is
        unreachable: a Rego error, for example, names the file and line.
        """
        version = policy_version(policies, data)
        loaded = _Loaded(dict(policies), dict(data), version)
        async with self._load_lock:
            try:
                await asyncio.wait_for(self._put(loaded), self.load_timeout)
            except TimeoutError as err:
                raise PolicyLoadError(
                    f"loading policies into {self.url} took more than {self.load_timeout}s"
                ) from err
            except Exception as err:
                raise PolicyLoadError(
                    f"cannot load policies into {self.url}: {describe_error(err)}"
                ) from err
            self._loaded = loaded
        return version

    async def _put(self, loaded: _Loaded) -> None:
        if not self._open:
            raise RuntimeError("the gate is not open")
        # Configuration first: a policy without its configuration denies everything.
        await self._client.update_or_create_data(dict(loaded.config), self.config_path)
        wanted = {self.policy_id_prefix + pid: text for pid, text in loaded.policies.items()}
        for pid, text in sorted(wanted.items()):
            await self._client.update_policy_from_string(text, pid, rego_compat=False)
        for pid in await self._client.get_policies_list():
            if pid.startswith(self.policy_id_prefix) and pid not in wanted:
                await self._client.delete_policy(pid)
        await self._client.update_or_create_data({"version": loaded.version}, self.meta_path)

    async def decide(self, policy_input: PolicyInput | Mapping[str, Any]) -> PolicyDecision:
        """OPA's decision for one candidate action; a denial whenever there is none."""
        doc = policy_input.to_opa() if isinstance(policy_input, PolicyInput) else policy_input
        try:
            return await asyncio.wait_for(self._decide(dict(doc)), self.timeout)
        except TimeoutError:
            cause = f"no answer from {self.url} within {self.timeout}s"
        except aiohttp.ClientConnectionError as err:
            cause = f"cannot reach {self.url}: {describe_error(err)}"
        except Exception as err:
            cause = f"query to {self.url} failed: {describe_error(err)}"
        return PolicyDecision.unavailable(cause, self.version)

    async def _query(self, doc: dict[str, Any]) -> dict[str, Any]:
        answer = await self._client.query_rule(doc, self.decision_path)
        if not isinstance(answer, dict):
            return {}
        return answer

    async def _decide(self, doc: dict[str, Any]) -> PolicyDecision:
        if not self._open:
            return PolicyDecision.unavailable("the gate is not open", self.version)
        answer = await self._query(doc)
        if "result" not in answer and self._loaded is not None:
            async with self._load_lock:
                # Another decision may have reloaded while this one waited for the lock.
                answer = await self._query(doc)
                if "result" not in answer:
                    await self._put(self._loaded)
                    answer = await self._query(doc)
        if "result" not in answer:
            return PolicyDecision.unavailable(
                f"no decision at data.{self.decision_path.replace('/', '.')}"
                " (policies not loaded?)",
                self.version,
            )
        return parse_decision(answer["result"], self.version)
