"""The closed loop on the real local stack, shared by the end-to-end scenarios.

One stack per session (cluster, OPA, demo service, Prometheus scraping it every 5 s, the
operator as its own process, and an HTTP receiver of its notifications); each scenario has a
namespace of its own, so scenarios do not see each other's workloads or remediations.

Every scenario's workloads are deployed when the session starts: by the time a scenario
creates its runbook, Prometheus holds enough healthy history for the detectors to warm up
from it at once (``detection.historySeconds``), instead of each scenario waiting a minute.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopstack import LoopStack, demo_deployment
from receiver import LocalReceiver

# namespace -> the demo Deployments its scenario uses
WORKLOADS: dict[str, tuple[str, ...]] = {
    "rollout": ("checkout", "checkout-trial"),
    "leak": ("cart",),
    "saturation": ("search",),
    "approval": ("pay-approved", "pay-rejected", "pay-late"),
    "deny": ("ledger",),
    "opadown": ("billing",),
    "blind": ("catalog", "reviews"),
    "crash": ("orders",),
    "flap": ("profile",),
    "pair": ("front", "back"),
    "promdown": ("inventory",),
    "promrestart": ("stock",),
    "claim": ("basket",),
    "fuzz": ("steady",),
    "chaos": ("chaos-rb", "chaos-sc"),
    "learning": ("recommend",),
    "scaleback": ("finder",),
    "gitops": ("gitops-argo", "gitops-flux"),
    "explain": ("exp-steady", "exp-cooling", "exp-blind"),
    "oom": (),  # its leaking workload is deployed by its scenario: the leak is revision 1
}
NAMESPACES = tuple(WORKLOADS)


@pytest.fixture(scope="session")
def receiver() -> Iterator[LocalReceiver]:
    """Where the operator sends notifications: a generic webhook at /webhook, Slack at /slack.
    It fails the first two deliveries of each, so that every one is retried."""
    server = LocalReceiver(fail_first=2).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def loop(tmp_path_factory: pytest.TempPathFactory,
         receiver: LocalReceiver) -> Iterator[LoopStack]:
    with LoopStack(tmp_path_factory.mktemp("loop"), NAMESPACES) as stack:
        for namespace, names in WORKLOADS.items():
            stack.apply(namespace, *(demo_deployment(name) for name in names))
        stack.start_operator(extra=["--notify-webhook", f"{receiver.url}/webhook",
                                    "--notify-slack", f"{receiver.url}/slack"])
        yield stack


# The files that take longest (minutes on a quiet machine, from `--durations`), longest
# first: the workers of `pytest -n N --dist loadfile` take files in collection order, and a
# long file started last would run alone at the end.
LONGEST_FIRST = ("test_ha.py", "test_replay.py", "test_approval.py", "test_oom.py",
                 "test_chart_identity.py", "test_gitops.py", "test_statefulset.py",
                 "test_blind.py", "test_deny.py", "test_scale.py", "test_bounded_status.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the rest keep their order
