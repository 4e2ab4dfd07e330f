"""The policy gate against a real OPA server: decisions, and failing closed."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kubeheal.decide import Action, Incident, RemediationHistory, RunbookRef, Target, assess
from kubeheal.policy import Outcome, PolicyBundle, PolicyGate, PolicyLoadError

pytestmark = pytest.mark.stack

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
UNAVAILABLE = "policy engine unavailable: "
Opa = tuple[str, subprocess.Popen[bytes]]


def candidate(
    action: Action,
    namespace: str = "shop",
    tier: str = "staging",
    replicas: int = 4,
    ready: int = 4,
    mode: str = "enforce",
) -> dict[str, Any]:
    return assess(
        action,
        Target(
            namespace,
            "checkout",
            replicas=replicas,
            ready_replicas=ready,
            namespace_labels={"kubeheal.io/tier": tier},
            last_rollout_at=NOW - timedelta(days=2),
        ),
        RemediationHistory(),
        Incident({"latency": 0.97}, "saturation", NOW - timedelta(minutes=5)),
        RunbookRef("checkout-latency", mode),  # type: ignore[arg-type]
        NOW,
    ).to_opa()


SAFE_RESTART = candidate(Action.restart(strategy="delete-pod"))


async def test_allows_a_safe_restart_and_records_the_version(
    gate: PolicyGate, bundle: PolicyBundle
) -> None:
    d = await gate.decide(SAFE_RESTART)
    assert d.outcome is Outcome.ALLOWED, d.message
    assert d.engine_available
    assert d.policy_version == gate.version == bundle.version


async def test_accepts_a_policy_input_value(gate: PolicyGate) -> None:
    value = assess(
        Action.scale(replicas=6, min_replicas=2, max_replicas=10),
        Target(
            "shop",
            "checkout",
            replicas=4,
            ready_replicas=4,
            namespace_labels={"kubeheal.io/tier": "dev"},
        ),
        RemediationHistory(),
        Incident(),
        RunbookRef("r"),
        NOW,
    )
    assert (await gate.decide(value)).outcome is Outcome.ALLOWED


async def test_rollback_in_production_requires_approval(gate: PolicyGate) -> None:
    d = await gate.decide(candidate(Action.rollback(), tier="production"))
    assert d.outcome is Outcome.APPROVAL_REQUIRED, d.message
    assert {f.guardrail for f in d.reasons} >= {"production-rollback", "risk-threshold"}
    assert d.violations == ()


async def test_protected_namespace_is_denied(gate: PolicyGate) -> None:
    d = await gate.decide(candidate(Action.restart(strategy="delete-pod"), "kube-system"))
    assert d.outcome is Outcome.DENIED
    assert d.engine_available
    assert d.condition_reason == "PolicyDenied"
    assert [f.guardrail for f in d.violations] == ["protected-namespace"]


async def test_restart_below_the_floor_and_dry_run_are_denied(gate: PolicyGate) -> None:
    thin = await gate.decide(candidate(Action.restart(strategy="delete-pod"), ready=2))
    assert [f.guardrail for f in thin.violations] == ["availability-floor"]
    dry = await gate.decide(candidate(Action.restart(strategy="delete-pod"), mode="dry-run"))
    assert [f.guardrail for f in dry.violations] == ["dry-run"]


async def test_incomplete_input_is_denied(gate: PolicyGate) -> None:
    d = await gate.decide({"action": {"kind": "restart"}})
    assert d.outcome is Outcome.DENIED
    assert d.engine_available
    assert "input is missing target.namespace" in d.message


async def test_opa_stopped_mid_test_denies_with_a_reason(gate: PolicyGate, opa: Opa) -> None:
    assert (await gate.decide(SAFE_RESTART)).allow
    opa[1].terminate()
    opa[1].wait(10)
    d = await gate.decide(SAFE_RESTART)
    assert not d.allow
    assert not d.engine_available
    assert d.condition_reason == "PolicyEngineUnavailable"
    assert d.reasons[0].msg.startswith(UNAVAILABLE + "cannot reach")
    assert d.policy_version == gate.version
    assert not await gate.healthy()


def stop_every_thread(process: subprocess.Popen[bytes]) -> None:
    """SIGSTOP OPA and wait until the kernel has stopped all of its threads: delivery is
    asynchronous, and a thread still running could answer one more request."""
    process.send_signal(signal.SIGSTOP)
    tasks = Path(f"/proc/{process.pid}/task")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        states = [(t / "stat").read_text().rsplit(")", 1)[1].split()[0] for t in tasks.iterdir()]
        if all(state in ("T", "t") for state in states):
            return
        time.sleep(0.01)
    raise AssertionError(f"OPA (pid {process.pid}) did not stop: thread states {states}")


async def test_opa_made_slow_times_out_and_denies(opa: Opa, bundle: PolicyBundle) -> None:
    url, process = opa
    async with PolicyGate(url, timeout=0.3) as gate:
        await gate.load_bundle(bundle)
        stop_every_thread(process)
        try:
            d = await gate.decide(SAFE_RESTART)
        finally:
            process.send_signal(signal.SIGCONT)
        assert not d.allow and not d.engine_available
        assert d.reasons[0].msg == f"{UNAVAILABLE}no answer from {url} within 0.3s"
        # Once OPA answers again, so does the gate.
        assert (await gate.decide(SAFE_RESTART)).allow


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A TCP server that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_server_that_never_answers_denies(silent_server: str) -> None:
    async with PolicyGate(silent_server, timeout=0.2) as gate:
        d = await gate.decide(SAFE_RESTART)
    assert not d.allow
    assert d.reasons[0].msg.startswith(UNAVAILABLE + "no answer")


async def test_nothing_listening_denies() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with PolicyGate(f"http://127.0.0.1:{port}") as gate:
        d = await gate.decide(SAFE_RESTART)
    assert not d.allow
    assert d.reasons[0].msg.startswith(UNAVAILABLE + f"cannot reach http://127.0.0.1:{port}")


async def test_unopened_gate_denies(opa: Opa) -> None:
    d = await PolicyGate(opa[0]).decide(SAFE_RESTART)
    assert not d.allow
    assert d.reasons[0].msg == UNAVAILABLE + "the gate is not open"


async def test_policies_lost_by_opa_are_loaded_again(gate: PolicyGate, opa: Opa) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{opa[0]}/v1/policies") as response:
            ids = [p["id"] for p in (await response.json())["result"]]
        for pid in ids:
            async with http.delete(f"{opa[0]}/v1/policies/{pid}") as response:
                assert response.status == 200
    d = await gate.decide(SAFE_RESTART)
    assert d.outcome is Outcome.ALLOWED, d.message
    assert d.policy_version == gate.version


async def test_without_policies_the_gate_denies(opa: Opa) -> None:
    async with PolicyGate(opa[0]) as gate:
        d = await gate.decide(SAFE_RESTART)
    assert not d.allow and not d.engine_available
    assert "no decision at data.kubeheal.decision" in d.message


async def test_configuration_in_data_changes_decisions_and_version(
    gate: PolicyGate, bundle: PolicyBundle
) -> None:
    strict = {**bundle.config, "approval": {**bundle.config["approval"], "riskThreshold": 0.05}}
    before = gate.version
    version = await gate.load(bundle.policies, strict)
    assert version != before
    d = await gate.decide(SAFE_RESTART)
    assert d.outcome is Outcome.APPROVAL_REQUIRED
    assert d.policy_version == version


async def test_missing_configuration_denies(opa: Opa, bundle: PolicyBundle) -> None:
    async with PolicyGate(opa[0]) as gate:
        await gate.load(bundle.policies, {})
        d = await gate.decide(SAFE_RESTART)
    assert not d.allow
    assert d.engine_available
    assert "guardrail configuration is missing" in d.message


async def test_invalid_rego_fails_the_load(gate: PolicyGate, bundle: PolicyBundle) -> None:
    broken = {**bundle.policies, "kubeheal/broken.rego": "package kubeheal.broken\nallow if {"}
    with pytest.raises(PolicyLoadError, match="cannot load policies"):
        await gate.load(broken, bundle.config)


ALWAYS_DENY = """package kubeheal.guardrails.always_deny

violation contains {"msg": "no", "details": {"guardrail": "always-deny"}}
"""


async def test_stale_policies_are_removed(gate: PolicyGate, bundle: PolicyBundle) -> None:
    extra = ALWAYS_DENY
    await gate.load({**bundle.policies, "extra.rego": extra}, bundle.config)
    assert not (await gate.decide(SAFE_RESTART)).allow
    await gate.load_bundle(bundle)
    assert (await gate.decide(SAFE_RESTART)).allow


async def test_load_against_a_stopped_opa_raises_load_error(
    gate: PolicyGate, bundle: PolicyBundle, opa: Opa
) -> None:
    opa[1].terminate()
    opa[1].wait(10)
    with pytest.raises(PolicyLoadError, match="cannot load policies"):
        await gate.load_bundle(bundle)


CONFLICTING = """package kubeheal.guardrails.conflicting

n := 1 if input.now

n := 2 if input.now

violation contains {"msg": "unreachable", "details": {"n": n}} if n > 5
"""


async def test_evaluation_error_denies(gate: PolicyGate, bundle: PolicyBundle) -> None:
    await gate.load({**bundle.policies, "conflicting.rego": CONFLICTING}, bundle.config)
    d = await gate.decide(SAFE_RESTART)
    assert not d.allow and not d.engine_available
    assert d.reasons[0].msg.startswith(UNAVAILABLE + "query to")
    assert "HTTP 500" in d.reasons[0].msg
