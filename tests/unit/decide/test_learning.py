"""The learner of the order of actions: Thompson sampling over Beta posteriors per (cause,
action), the runbook's order as the prior, seeded draws, ties to the runbook's order."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from kubeheal.decide.learning import PRIOR_WEIGHT, learn_order, prior_of

RUNBOOK = ["restart", "scale"]


def simulate(success: dict[str, float], incidents: int, world_seed: int = 7,
             ) -> tuple[list[str], dict[str, tuple[int, int]]]:
    """Incidents one after another: each tries the actions in the learned order until one
    works, and its runs are counted as the operator counts them (the last run verified when
    recovery followed, every other run failed). The first action of each incident, and the
    final counts."""
    world = random.Random(world_seed)
    counts = {name: (0, 0) for name in RUNBOOK}
    firsts = []
    for i in range(incidents):
        order = learn_order(RUNBOOK, counts, cause="saturation", seed=f"web-{i}").order
        firsts.append(order[0])
        for name in order:
            verified, failed = counts[name]
            if world.random() < success[name]:
                counts[name] = (verified + 1, failed)
                break
            counts[name] = (verified, failed + 1)
    return firsts, counts


def test_the_better_action_comes_first_once_outcomes_say_so() -> None:
    firsts, counts = simulate({"restart": 0.0, "scale": 0.9}, incidents=200)
    # the runbook's order holds at first; scale earns its place within a few incidents
    assert firsts[0] == "restart"
    assert firsts[-100:].count("scale") >= 95, Counter(firsts[-100:])
    # restart, which never helps, stops being tried first: few runs wasted on it
    assert counts["restart"][1] < 30, counts
    assert counts["scale"][0] >= 150, counts


def test_the_better_of_two_imperfect_actions_comes_first() -> None:
    firsts, _ = simulate({"restart": 0.5, "scale": 0.7}, incidents=300)
    assert firsts[-100:].count("scale") >= 90, Counter(firsts[-100:])


def test_between_equally_good_actions_the_runbooks_order_holds() -> None:
    firsts, _ = simulate({"restart": 0.9, "scale": 0.9}, incidents=200)
    assert firsts.count("restart") >= 150, Counter(firsts)


def test_with_no_outcomes_the_runbooks_order_holds() -> None:
    for i in range(200):
        learned = learn_order(["undo", "restart", "scale"], {}, cause="change", seed=f"r-{i}")
        assert learned.order == ("undo", "restart", "scale")
        assert not learned.changed and learned.draws == ()
    assert "no verified or failed run" in learned.reason
    # outcomes of other actions (not fitting this incident) are no evidence for these
    other = learn_order(RUNBOOK, {"undo": (9, 0)}, cause="change", seed="r")
    assert other.order == tuple(RUNBOOK)


def test_the_prior_leans_to_the_runbooks_order_on_equal_evidence() -> None:
    names = ["a", "b", "c"]
    firsts = Counter(learn_order(names, {n: (1, 1) for n in names}, cause="unknown",
                                 seed=f"r-{i}").order[0] for i in range(3000))
    assert firsts["a"] > firsts["b"] > firsts["c"], firsts
    assert firsts["a"] > 1400, firsts
    assert [prior_of(i, 3) for i in range(3)] == [PRIOR_WEIGHT, PRIOR_WEIGHT / 2, 0.0]


def test_ties_go_to_the_runbooks_order() -> None:
    outcomes = {"restart": (3, 1), "scale": (1, 3), "undo": (2, 2)}
    learned = learn_order(["undo", "restart", "scale"], outcomes, cause="saturation",
                          seed="r", draw=lambda _name, _a, _b: 0.5)
    assert learned.order == ("undo", "restart", "scale")
    assert learned.reason.startswith("undo first, as in the runbook: 2 of 4 verified")

    def partial(name: str, _a: float, _b: float) -> float:
        return 0.4 if name == "undo" else 0.7

    assert learn_order(["undo", "restart", "scale"], outcomes, cause="saturation", seed="r",
                       draw=partial).order == ("restart", "scale", "undo")


def test_draws_are_seeded_and_the_actions_left_keep_their_order() -> None:
    outcomes = {"restart": (2, 2), "scale": (2, 2), "undo": (2, 2)}
    every = ["undo", "restart", "scale"]
    runs = [learn_order(every, outcomes, cause="change", seed=f"web-{i}") for i in range(50)]
    assert runs == [learn_order(every, outcomes, cause="change", seed=f"web-{i}")
                    for i in range(50)]
    # other remediations explore: the order is not the same for all
    assert len({r.order for r in runs}) > 1
    # once an action is tried, the others keep the order (and the draws) they had
    for i, before in enumerate(runs):
        tried = before.order[0]
        after = learn_order(every, outcomes, cause="change", seed=f"web-{i}", tried=[tried])
        assert after.order == before.order[1:]
        assert after.runbook_order == tuple(n for n in every if n != tried)
        assert set(after.draws) <= set(before.draws)


def test_the_reason_names_the_counts() -> None:
    learned = learn_order(["restart", "scale"], {"restart": (0, 5), "scale": (8, 1)},
                          cause="saturation", seed="web-1")
    assert learned.changed
    assert learned.reason == ("scale before restart: 8 of 9 verified for saturation in this "
                              "runbook (restart: 0 of 5)")
    assert learn_order(["scale"], {"scale": (1, 0)}, cause="saturation",
                       seed="s").reason == "scale is the only action that fits for saturation"


@given(names=st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=5,
                      unique=True),
       counts=st.dictionaries(st.sampled_from(["a", "b", "c", "d", "e", "x"]),
                              st.tuples(st.integers(0, 50), st.integers(0, 50))),
       seed=st.text(max_size=8))
def test_learning_only_reorders(names: list[str], counts: dict[str, tuple[int, int]],
                                seed: str) -> None:
    learned = learn_order(names, counts, cause="saturation", seed=seed)
    assert sorted(learned.order) == sorted(names)
    assert learned.runbook_order == tuple(names)
