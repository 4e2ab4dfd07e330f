"""``kubeheal replay``'s arguments: bad input is one clear line and exit status 2, before
anything is read."""

from __future__ import annotations

import pytest

from kubeheal.cli import main


@pytest.mark.parametrize(("argv", "said"), [
    (["replay"], "name one runbook"),
    (["replay", "web", "-f", "web.yaml"], "name one runbook"),
    (["replay", "web", "--since", "yesterday"], "--since 'yesterday': expected a time ago"),
    (["replay", "web", "--until", "soon"], "--until 'soon'"),
    (["replay", "web", "--step", "0s"], "--step '0s': expected a positive duration"),
])
def test_bad_arguments_are_refused_in_one_line(argv: list[str], said: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1, err
