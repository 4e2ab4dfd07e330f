"""The Rego policies pass ``opa check --strict`` and their own ``opa test`` suite with at
least 90% coverage, so the policy checks run wherever pytest runs, CI included."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.stack

POLICIES = Path(__file__).parents[3] / "policies"


def run(opa_bin: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(opa_bin), *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_policies_pass_strict_checks(opa_bin: Path) -> None:
    result = run(opa_bin, "check", "--strict", str(POLICIES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_policies_are_formatted(opa_bin: Path) -> None:
    result = run(opa_bin, "fmt", "--list", str(POLICIES))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "", f"run `opa fmt -w policies/` on:\n{result.stdout}"


def test_policy_tests_pass_with_coverage(opa_bin: Path) -> None:
    result = run(opa_bin, "test", str(POLICIES), "--coverage", "--format=json")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    report = json.loads(result.stdout)
    uncovered = {
        name: [r["start"]["row"] for r in file.get("not_covered", [])]
        for name, file in report["files"].items()
        if file.get("not_covered")
    }
    assert report["coverage"] >= 90, f"coverage {report['coverage']}%, uncovered: {uncovered}"


def test_every_guardrail_has_a_test_file() -> None:
    for policy in (POLICIES / "kubeheal").rglob("*.rego"):
        if policy.name.endswith("_test.rego"):
            continue
        assert policy.with_name(policy.stem + "_test.rego").exists(), f"{policy} has no test"
