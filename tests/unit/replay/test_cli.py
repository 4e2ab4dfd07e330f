"""``kubeheal replay``'s input: bad arguments are one clear line and exit status 2, before
anything is read; a bad runbook file names what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeheal.cli import main
from kubeheal.replay.sources import ReplayError, runbook_from_file

ROOT = Path(__file__).resolve().parents[3]


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


def test_a_runbook_file_is_read_or_refused_with_the_field_to_fix(tmp_path: Path) -> None:
    good = tmp_path / "runbook.yaml"
    good.write_text((ROOT / "deploy" / "demo" / "30-runbook.yaml").read_text())
    runbook = runbook_from_file(good, "shop")
    assert (runbook.metadata.namespace, runbook.metadata.name) == ("shop", "checkout")
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("intervalSeconds: 5", "intervalSeconds: -1"))
    with pytest.raises(ReplayError, match="intervalSeconds"):
        runbook_from_file(bad, "shop")
    slo = tmp_path / "slo.yaml"
    slo.write_text((ROOT / "deploy" / "demo" / "20-slo.yaml").read_text())
    with pytest.raises(ReplayError, match="not a Runbook"):
        runbook_from_file(slo, "shop")
