"""The commands that act as the kubeconfig's user share one set-up: a kubeconfig that cannot
be loaded is one clear line on stderr and exit status 2, nothing on stdout, before anything
is asked of a cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeheal.cli import main


@pytest.mark.parametrize("argv", [
    ["approve", "checkout-1"],
    ["reject", "checkout-1", "--not-an-incident"],
    ["gitops", "resume", "checkout-1"],
    ["report", "-A"],
    ["explain", "checkout"],
    ["replay", "checkout"],
])
def test_a_kubeconfig_that_cannot_be_loaded_is_one_line_and_status_2(
        argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--kubeconfig", str(tmp_path / "missing")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("kubeheal: cannot load kubeconfig: "), err
    assert err.count("\n") == 1, err


def test_a_bad_look_back_is_refused_before_the_kubeconfig_is_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--since", "soon", "--kubeconfig", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kubeheal: ") and "kubeconfig" not in err and err.count("\n") == 1, err
