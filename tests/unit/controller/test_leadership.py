"""Leader-election settings: flags over KUBEHEAL_* variables over defaults, and bad timings
refused at start with the reason (the Lease itself is tested on a real API server in
tests/integration/controller/)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubeheal.cli import main
from kubeheal.controller.leadership import ElectionConfig

ROOT = Path(__file__).resolve().parents[3]


def test_flags_win_over_the_environment_which_wins_over_defaults() -> None:
    env = {"KUBEHEAL_LEASE_NAME": "from-env", "KUBEHEAL_LEASE_NAMESPACE": "ops",
           "KUBEHEAL_RETRY_PERIOD": "1", "POD_NAME": "kubeheal-operator-7d9f-x2"}
    config = ElectionConfig.from_env(env, lease_name="from-flag", lease_namespace=None,
                                     identity=None, lease_duration=None, renew_deadline=None,
                                     retry_period=None)
    assert (config.lease_name, config.lease_namespace, config.identity) == \
        ("from-flag", "ops", "kubeheal-operator-7d9f-x2")
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == \
        (15.0, 10.0, 1.0)


def test_without_a_pod_name_the_identity_is_host_and_process() -> None:
    first = ElectionConfig.from_env({"KUBEHEAL_LEASE_NAMESPACE": "ops"})
    assert first.identity.endswith(f"-{os.getpid()}")
    assert first.lease_name == "kubeheal"


@pytest.mark.parametrize("flags, reason", [
    (["--lease-duration", "5", "--renew-deadline", "10"],
     "the renew deadline (10s) must be shorter than the lease duration (5s)"),
    (["--retry-period", "10"],
     "the retry period (10s) must be positive and shorter than the renew deadline (10s)"),
], ids=["deadline-past-duration", "retry-past-deadline"])
def test_bad_timings_stop_the_operator_at_start_with_the_reason(
        flags: list[str], reason: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--policies", str(ROOT / "policies"), "--leader-election",
                 "--lease-namespace", "ops", "--identity", "a", *flags])
    assert code == 2
    assert f"kubeheal: leader election: {reason}" in capsys.readouterr().err
