"""How the Alertmanager receiver is configured: a port needs a token, from flags or the
chart's environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeheal.cli import main
from kubeheal.controller.runtime import OperatorConfig


@pytest.fixture(autouse=True)
def no_receiver_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KUBEHEAL_ALERTS_PORT", "KUBEHEAL_ALERTS_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)


def test_a_receiver_without_a_token_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--alerts-port", "9095", "--policies", "policies"]) == 2
    assert "--alerts-token-file" in capsys.readouterr().err


def test_the_chart_environment_configures_the_receiver(monkeypatch: pytest.MonkeyPatch) -> None:
    assert OperatorConfig.from_env().alerts_port is None
    monkeypatch.setenv("KUBEHEAL_ALERTS_PORT", "9095")
    monkeypatch.setenv("KUBEHEAL_ALERTS_TOKEN_FILE", "/etc/kubeheal/alerts/token")
    config = OperatorConfig.from_env()
    assert (config.alerts_port, config.alerts_token_file) == (
        9095, Path("/etc/kubeheal/alerts/token"))
