"""The Grafana dashboard queries only metrics that the operator exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from kubeheal.controller.metrics import OperatorMetrics

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy/chart/files/dashboards/kubeheal.json"


def test_every_metric_on_the_dashboard_is_exported() -> None:
    exported = {sample for family in OperatorMetrics().registry.collect()
                for sample in (family.name, f"{family.name}_total", f"{family.name}_bucket")}
    panels = json.loads(DASHBOARD.read_text())["panels"]
    queried = {name for panel in panels for target in panel.get("targets", [])
               for name in re.findall(r"\bkubeheal_[a-z_]+", target["expr"])}
    assert "kubeheal_outcome_incidents" in queried
    assert queried <= exported, sorted(queried - exported)
