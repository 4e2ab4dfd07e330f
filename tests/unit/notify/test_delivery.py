"""The retry schedule, the verdict on an answer and the receivers' settings: pure, no I/O."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kubeheal.cli import main
from kubeheal.controller.runtime import OperatorConfig
from kubeheal.notify.delivery import Receiver, ReceiverFormat, RetrySchedule, judge

ROOT = Path(__file__).resolve().parents[3]


def test_the_default_schedule_doubles_from_one_second_up_to_a_minute() -> None:
    schedule = RetrySchedule()
    assert schedule.delays() == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0]
    assert len(schedule.delays()) == schedule.attempts - 1
    assert schedule.delay(schedule.attempts) is None


def test_a_receiver_may_ask_for_a_longer_wait_but_not_past_the_cap() -> None:
    schedule = RetrySchedule(attempts=4, first=0.5, factor=3.0, cap=10.0)
    assert schedule.delays() == [0.5, 1.5, 4.5]
    assert schedule.delay(1, retry_after=2.0) == 2.0
    assert schedule.delay(3, retry_after=1.0) == 4.5  # never shorter than the backoff
    assert schedule.delay(2, retry_after=3600.0) == 10.0
    assert schedule.delay(4, retry_after=1.0) is None  # no attempt left, whatever it asks


def test_one_attempt_means_no_retry() -> None:
    assert RetrySchedule(attempts=1).delays() == []


@pytest.mark.parametrize("schedule", [
    {"attempts": 0}, {"first": -1.0}, {"factor": 0.5}, {"first": 5.0, "cap": 1.0}])
def test_a_bad_schedule_is_refused(schedule: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="invalid retry schedule"):
        RetrySchedule(**schedule)


@pytest.mark.parametrize("status, delivered, retryable", [
    (200, True, False), (202, True, False), (204, True, False),
    (408, False, True), (425, False, True), (429, False, True), (500, False, True),
    (502, False, True), (503, False, True),
    (301, False, False), (400, False, False), (403, False, False), (404, False, False),
    (410, False, False),
])
def test_which_answers_are_worth_another_try(status: int, delivered: bool,
                                             retryable: bool) -> None:
    attempt = judge(status)
    assert (attempt.delivered, attempt.retryable) == (delivered, retryable)
    assert attempt.reason == ("delivered" if delivered else f"http-{status}")


def test_retry_after_in_seconds_is_read_and_a_date_ignored() -> None:
    assert judge(429, "30").retry_after == 30.0
    assert judge(503, "1.5").retry_after == 1.5
    assert judge(503, "Wed, 21 Oct 2026 07:28:00 GMT").retry_after is None
    assert judge(503).retry_after is None


@pytest.mark.parametrize("url", ["hooks.slack.com/services/T0/B0/secret", "ftp://host/x",
                                 "http:///path-only"])
def test_a_bad_url_is_refused_without_showing_it(url: str) -> None:
    with pytest.raises(ValueError) as refused:
        Receiver("slack", url, ReceiverFormat.SLACK)
    assert "secret" not in str(refused.value) and "slack" in str(refused.value)


def test_the_url_stays_out_of_the_receivers_repr() -> None:
    receiver = Receiver("slack", "https://hooks.slack.com/services/T0/B0/secret",
                        ReceiverFormat.SLACK)
    assert "secret" not in repr(receiver)


def test_receivers_come_from_flags_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEHEAL_NOTIFY_SLACK_URL", "https://hooks.slack.com/services/T/B/x")
    monkeypatch.delenv("KUBEHEAL_NOTIFY_WEBHOOK_URL", raising=False)
    config = OperatorConfig.from_env()
    assert [(r.name, r.format) for r in config.receivers()] == [
        ("slack", ReceiverFormat.SLACK)]
    both = dataclasses.replace(config, notify_webhook="http://alerts.example/kubeheal")
    assert [r.format for r in both.receivers()] == [ReceiverFormat.WEBHOOK,
                                                    ReceiverFormat.SLACK]
    monkeypatch.delenv("KUBEHEAL_NOTIFY_SLACK_URL")
    assert OperatorConfig.from_env().receivers() == ()


def test_a_bad_receiver_stops_the_operator_at_start(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--policies", str(ROOT / "policies"),
                 "--notify-webhook", "alerts.example/kubeheal?token=secret"])
    assert code == 2
    err = capsys.readouterr().err
    assert "kubeheal: notification receiver webhook: the URL must be http(s)://" in err
    assert "secret" not in err
