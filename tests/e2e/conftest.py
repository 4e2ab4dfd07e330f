"""The closed loop on the real local stack, shared by the end-to-end scenarios.

One stack per session (cluster, OPA, demo service, Prometheus scraping it every 5 s, and the
operator as its own process); each scenario has a namespace of its own, so scenarios do not
see each other's workloads or remediations.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopstack import LoopStack

NAMESPACES = ("rollout", "leak", "saturation", "approval", "deny", "blind", "crash", "flap",
              "pair")


@pytest.fixture(scope="session")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopStack]:
    stack = LoopStack(tmp_path_factory.mktemp("loop"), NAMESPACES)
    stack.start()
    stack.start_operator()
    yield stack
    stack.stop()
