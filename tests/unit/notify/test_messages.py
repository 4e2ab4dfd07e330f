"""What approval requests and escalations say, for a generic webhook and for Slack."""

from __future__ import annotations

import datetime as dt
import json
import shlex
from typing import Any

from kubeheal.api.remediation import Remediation
from kubeheal.cli import build_parser
from kubeheal.notify.messages import (
    SLACK_HEADER_LIMIT,
    SLACK_TEXT_LIMIT,
    Notification,
    NotificationEvent,
    generic_payload,
    notification_of,
    slack_payload,
)

AT = dt.datetime(2026, 11, 28, 10, 1, tzinfo=dt.UTC)


def remediation(phase: str = "AwaitingApproval", **status: Any) -> Remediation:
    return Remediation.model_validate({
        "metadata": {"name": "checkout-deployment-3", "namespace": "shop"},
        "spec": {
            "runbookRef": {"name": "checkout"},
            "target": {"namespace": "shop", "name": "checkout"},
            "trigger": {"startedAt": "2026-11-28T10:00:00Z", "detectedAt": "2026-11-28T10:00:20Z",
                        "score": 0.99, "evidence": [
                            {"signal": "error-ratio", "score": 1.0,
                             "explanation": "error-ratio: observed 0.31, expected 0.005"}]},
            "diagnosis": {"cause": "change"},
        },
        "status": {
            "phase": phase,
            "action": {"name": "roll-back", "kind": "rollback",
                       "params": {"toRevision": "1", "replicaSet": "checkout-75d459c796"},
                       "digest": "9f2c"},
            "risk": {"score": 0.54},
            "policy": {"allow": True, "requireApproval": True, "decidedAt": AT.isoformat(),
                       "reasons": ["rollbacks in production-tier namespaces need approval"]},
            **status,
        },
    })


def approval() -> Notification:
    rem = remediation()
    assert rem.status is not None
    return notification_of(rem, rem.status, NotificationEvent.APPROVAL_REQUESTED,
                           "RequireApproval", "roll-back awaits approval", AT)


def escalation(reason: str = "Rejected", message: str = "rejected by alice") -> Notification:
    rem = remediation("Escalated")
    assert rem.status is not None
    return notification_of(rem, rem.status, NotificationEvent.ESCALATED, reason, message, AT)


def test_an_approval_request_carries_the_commands_that_decide_it() -> None:
    n = approval()
    assert n.commands == {
        "approve": "kubeheal approve checkout-deployment-3 -n shop",
        "reject": "kubeheal reject checkout-deployment-3 -n shop",
        "inspect": "kubectl describe remediation checkout-deployment-3 -n shop",
    }
    # The command is one the kubeheal CLI accepts as it stands.
    args = build_parser().parse_args(shlex.split(n.commands["approve"])[1:])
    assert (args.command, args.name, args.namespace) == ("approve", "checkout-deployment-3",
                                                         "shop")


def test_the_generic_payload_holds_the_whole_decision() -> None:
    payload = generic_payload(approval())
    assert json.loads(json.dumps(payload)) == payload
    assert payload["id"] == "shop/checkout-deployment-3/ApprovalRequested/9f2c"
    assert payload["event"] == "ApprovalRequested"
    assert payload["remediation"] == {"namespace": "shop", "name": "checkout-deployment-3"}
    assert payload["target"] == {"kind": "Deployment", "namespace": "shop", "name": "checkout"}
    assert payload["action"] == {"name": "roll-back", "kind": "rollback", "digest": "9f2c",
                                 "params": {"toRevision": "1",
                                            "replicaSet": "checkout-75d459c796"}}
    assert payload["risk"] == 0.54
    assert payload["policyReasons"] == ["rollbacks in production-tier namespaces need approval"]
    assert payload["evidence"] == ["error-ratio: observed 0.31, expected 0.005"]
    assert payload["commands"]["approve"] == "kubeheal approve checkout-deployment-3 -n shop"
    assert payload["summary"] == ("Approval needed: roll-back (rollback toRevision=1, "
                                  "replicaSet=checkout-75d459c796) on deployment shop/checkout, "
                                  "risk 0.54")
    assert payload["time"] == "2026-11-28T10:01:00+00:00"


def test_an_escalation_says_why_and_offers_no_approval() -> None:
    payload = generic_payload(escalation("ApprovalTimedOut", "no decision within 10s"))
    assert payload["event"] == "Escalated"
    assert payload["id"] == "shop/checkout-deployment-3/Escalated"
    assert (payload["reason"], payload["message"]) == ("ApprovalTimedOut",
                                                       "no decision within 10s")
    assert set(payload["commands"]) == {"inspect"}
    assert payload["summary"] == ("Escalated: deployment shop/checkout (checkout-deployment-3): "
                                  "ApprovalTimedOut")


def test_an_escalation_before_any_action_has_none() -> None:
    rem = remediation("Escalated", action=None, risk=None, policy=None)
    assert rem.status is not None
    payload = generic_payload(notification_of(rem, rem.status, NotificationEvent.ESCALATED,
                                              "NoActionLeft", "nothing fits", AT))
    assert (payload["action"], payload["risk"], payload["policyReasons"]) == (None, None, [])


def test_slack_gets_text_and_blocks_with_the_command() -> None:
    payload = slack_payload(approval())
    assert set(payload) == {"text", "blocks"}
    assert "kubeheal approve checkout-deployment-3 -n shop" in payload["text"]
    kinds = [b["type"] for b in payload["blocks"]]
    assert kinds == ["header", "section", "section", "section", "context"]
    header, details, facts, commands, context = payload["blocks"]
    assert header["text"] == {"type": "plain_text",
                              "text": "Approval needed: deployment shop/checkout"}
    assert "rollbacks in production-tier namespaces need approval" in details["text"]["text"]
    assert "*Risk*\n0.54" in [f["text"] for f in facts["fields"]]
    assert "```kubeheal approve checkout-deployment-3 -n shop```" in commands["text"]["text"]
    assert "```kubeheal reject checkout-deployment-3 -n shop```" in commands["text"]["text"]
    assert context["elements"][0]["text"].endswith(approval().id)


def test_slack_text_is_escaped_and_within_its_limits() -> None:
    n = escalation("Inconclusive", "SLI <0.9 & falling " + "x" * 5000)
    payload = slack_payload(n)
    header, details, facts, _, _ = payload["blocks"]
    assert len(header["text"]["text"]) <= SLACK_HEADER_LIMIT
    assert len(details["text"]["text"]) <= SLACK_TEXT_LIMIT
    assert details["text"]["text"].startswith("SLI &lt;0.9 &amp; falling")
    assert len(facts["fields"]) <= 10
    assert "<" not in payload["text"] and "Incident escalated" in header["text"]["text"]
