"""The ``kubeheal`` command: generate CRDs, evaluate detectors, approve actions, report
outcomes, run the operator.

Each subcommand prints what it did, and on failure one clear line on stderr with a non-zero
exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def _crds(args: argparse.Namespace) -> int:
    from kubeheal.api.crd import write_crds

    for path in write_crds(Path(args.out)):
        print(f"wrote {path}")
    return 0


def _fail(message: object, code: int) -> int:
    """Say ``message`` in one line on stderr and return the exit status ``code``: 2 for bad
    arguments or a kubeconfig that cannot be loaded, 1 for a command that failed."""
    print(f"kubeheal: {message}", file=sys.stderr)
    return code


def _namespace(args: argparse.Namespace) -> str:
    """The namespace named with ``-n``, else the kubeconfig context's."""
    return str(args.namespace or _default_namespace(args.kubeconfig, args.context))


def _as_user(args: argparse.Namespace, errors: type[Exception] | tuple[type[Exception], ...],
             command: Callable[[Any], str]) -> int:
    """Run ``command`` with an API client of ``--kubeconfig`` and ``--context`` (the user's,
    not the operator's) and print what it returns.

    The exit status is 0 when it ran, 2 (one line said) when the kubeconfig cannot be loaded,
    and 1 with the error's message when ``command`` raises one of ``errors``.
    """
    from kubernetes import config

    try:
        api = config.new_client_from_config(config_file=args.kubeconfig, context=args.context)
    except Exception as e:  # a missing or broken kubeconfig: say so in one line
        return _fail(f"cannot load kubeconfig: {e}", 2)
    try:
        print(command(api))
    except errors as e:
        return _fail(e, 1)
    return 0


def _decide(args: argparse.Namespace) -> int:
    from kubeheal.approve import ApprovalError, record_decision

    return _as_user(args, ApprovalError, lambda api: record_decision(
        api, _namespace(args), args.name, "approved" if args.command == "approve" else "rejected",
        args.reason, not_an_incident=getattr(args, "not_an_incident", False)).describe())


def _gitops_resume(args: argparse.Namespace) -> int:
    from kubeheal.resume import ResumeError, resume_reconciliation

    return _as_user(args, ResumeError, lambda api: resume_reconciliation(
        api, _namespace(args), args.name).describe())


def _report(args: argparse.Namespace) -> int:
    from kubeheal.outcomes.render import parse_since, render
    from kubeheal.report import ReportError, make_report

    try:
        look_back = parse_since(args.since)
    except ValueError as e:
        return _fail(e, 2)
    return _as_user(args, ReportError, lambda api: render(make_report(
        api, None if args.all_namespaces else _namespace(args), look_back), args.output))


def _explain(args: argparse.Namespace) -> int:
    from kubeheal.explain import ExplainError, ask
    from kubeheal.explanation.render import render

    return _as_user(args, ExplainError, lambda api: render(ask(
        api, _namespace(args), args.deployment, timeout=args.timeout), args.output))


def _replay(args: argparse.Namespace) -> int:
    import asyncio
    import datetime as dt

    from kubeheal.replay import ReplayError, parse_moment, parse_step, replay
    from kubeheal.replay.render import render

    if (args.runbook is None) == (args.file is None):
        return _fail("name one runbook: in the cluster (RUNBOOK) or in a file (-f FILE)", 2)
    now = dt.datetime.now(dt.UTC)
    try:
        since = parse_moment(args.since, now, "--since")
        until = parse_moment(args.until, now, "--until") if args.until else now
        step = parse_step(args.step) if args.step else None
    except ValueError as e:
        return _fail(e, 2)

    def replayed(api: Any) -> str:
        runbook, found = asyncio.run(replay(
            api, _namespace(args), args.runbook, Path(args.file) if args.file else None, since,
            until, step, args.prometheus_url, args.opa_url, args.opa, Path(args.policies),
            args.mode))
        return render(runbook, found, args.output)

    return _as_user(args, (ReplayError, ValueError), replayed)


def _default_namespace(kubeconfig: str | None, context: str | None) -> str:
    from kubernetes import config

    try:
        _, active = config.list_kube_config_contexts(config_file=kubeconfig)
        if context:
            contexts, _ = config.list_kube_config_contexts(config_file=kubeconfig)
            active = next(c for c in contexts if c["name"] == context)
        return str(active["context"].get("namespace") or "default")
    except Exception:
        return "default"


def _run(args: argparse.Namespace) -> int:
    import dataclasses
    import datetime as dt
    import logging
    import os

    from kubeheal.controller.handlers import run
    from kubeheal.controller.leadership import ElectionConfig
    from kubeheal.controller.retention import RetentionPolicy
    from kubeheal.controller.runtime import OperatorConfig
    from kubeheal.diagnose.gitops import GitOpsSettings

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    env = OperatorConfig.from_env()
    config = OperatorConfig(
        prometheus_url=args.prometheus_url or env.prometheus_url,
        opa_url=args.opa_url or env.opa_url,
        policies=Path(args.policies) if args.policies else env.policies,
        kubeconfig=args.kubeconfig or env.kubeconfig,
        namespaces=tuple(args.namespace) or env.namespaces,
        metrics_port=args.metrics_port if args.metrics_port is not None else env.metrics_port,
        notify_webhook=args.notify_webhook or env.notify_webhook,
        notify_slack=args.notify_slack or env.notify_slack,
        policy_timeout=args.policy_timeout if args.policy_timeout is not None
        else env.policy_timeout,
        alerts_port=args.alerts_port if args.alerts_port is not None else env.alerts_port,
        alerts_token_file=Path(args.alerts_token_file) if args.alerts_token_file
        else env.alerts_token_file,
        gitops=GitOpsSettings(
            argocd_namespace=args.argocd_namespace or env.gitops.argocd_namespace,
            argocd_tracking_label=env.gitops.argocd_tracking_label
            if args.argocd_tracking_label is None else args.argocd_tracking_label),
    )
    if config.alerts_port is not None and config.alerts_token_file is None:
        return _fail("the Alertmanager receiver needs --alerts-token-file (a bearer token)", 2)
    try:
        config.receivers()
        config = dataclasses.replace(config, retention=RetentionPolicy(
            keep_last=args.keep_remediations,
            ttl=dt.timedelta(seconds=args.remediation_ttl) if args.remediation_ttl else None,
            max_age=dt.timedelta(seconds=args.remediation_max_age),
            interval=args.retention_interval))
    except ValueError as e:
        return _fail(e, 2)
    if not config.policies.is_dir():
        return _fail(f"policies directory {config.policies} not found", 2)
    election = None
    if args.leader_election or os.environ.get("KUBEHEAL_LEADER_ELECTION") == "true":
        try:
            election = ElectionConfig.from_env(
                os.environ, lease_name=args.lease_name, lease_namespace=args.lease_namespace,
                identity=args.identity, lease_duration=args.lease_duration,
                renew_deadline=args.renew_deadline, retry_period=args.retry_period)
        except ValueError as e:
            return _fail(e, 2)
    run(config, liveness_port=args.liveness_port, election=election)
    return 0


def _kubeconfig_flags(command: argparse.ArgumentParser) -> None:
    """The flags that choose whose kubeconfig a command acts with (see ``_as_user``)."""
    command.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG)")
    command.add_argument("--context", help="kubeconfig context")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubeheal", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    crds = commands.add_parser("crds", help="write the CRD manifests generated from the API models")
    crds.add_argument("--out", default="crds", help="directory to write to (default: crds)")
    crds.set_defaults(run=_crds)

    from kubeheal.detect.corpus import add_eval_command

    add_eval_command(commands)

    for verb, what in (("approve", "approve"), ("reject", "reject")):
        decide = commands.add_parser(
            verb, help=f"{what} a remediation awaiting approval, as the current kubeconfig user"
        )
        decide.add_argument("name", help="name of the Remediation")
        decide.add_argument("-n", "--namespace", help="its namespace (default: the context's)")
        decide.add_argument("--reason", default="", help="why, recorded with the decision")
        _kubeconfig_flags(decide)
        if verb == "reject":
            decide.add_argument("--not-an-incident", action="store_true",
                                help="the alarm was false: count it as a false alarm of the "
                                     "runbook and its signals")
        decide.set_defaults(run=_decide)

    gitops = commands.add_parser(
        "gitops", help="GitOps-managed workloads: lift the suspension kubeheal made")
    gitops_commands = gitops.add_subparsers(dest="gitops_command", required=True,
                                            metavar="COMMAND")
    resume = gitops_commands.add_parser(
        "resume", help="once Git holds the fix: restore the Argo CD sync policy or Flux "
        "reconciliation that a closed remediation suspended, as the current kubeconfig user")
    resume.add_argument("name", help="name of the Remediation")
    resume.add_argument("-n", "--namespace", help="its namespace (default: the context's)")
    _kubeconfig_flags(resume)
    resume.set_defaults(run=_gitops_resume)

    report = commands.add_parser(
        "report", help="how did we do: outcomes, MTTD/MTTR, coverage, false alarms, budgets")
    where = report.add_mutually_exclusive_group()
    where.add_argument("-n", "--namespace", help="one namespace (default: the context's)")
    where.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    report.add_argument("--since", default="7d",
                        help="look back this far, e.g. 24h, 7d, 2w (whole UTC days; default 7d)")
    report.add_argument("-o", "--output", choices=("table", "json", "markdown"),
                        default="table", help="output format (default: table)")
    _kubeconfig_flags(report)
    report.set_defaults(run=_report)

    why = commands.add_parser(
        "explain", help="why kubeheal did or did not act on a Deployment, asked of the operator")
    why.add_argument("deployment", help="name of the Deployment")
    why.add_argument("-n", "--namespace", help="its namespace (default: the context's)")
    why.add_argument("-o", "--output", choices=("table", "json"), default="table",
                     help="output format (default: table)")
    why.add_argument("--timeout", type=float, default=60.0,
                     help="seconds to wait for the operator's answer (default 60)")
    _kubeconfig_flags(why)
    why.set_defaults(run=_explain)

    again = commands.add_parser(
        "replay", help="what a runbook would have done over Prometheus history (executes nothing)")
    again.add_argument("runbook", nargs="?", help="name of the Runbook in the cluster")
    again.add_argument("-f", "--file", help="a Runbook manifest instead of one in the cluster")
    again.add_argument("-n", "--namespace", help="its namespace (default: the context's)")
    again.add_argument("--since", default="24h",
                       help="start: a time ago (90m, 24h, 7d) or an RFC 3339 time (default 24h)")
    again.add_argument("--until", help="end, as --since (default: now)")
    again.add_argument("--step", help="time between evaluations, e.g. 15s (default: the "
                                      "runbook's intervalSeconds)")
    again.add_argument("--mode", choices=("enforce", "dry-run"),
                       help="replay as if the runbook were in this mode (default: as written)")
    again.add_argument("--prometheus-url", default="http://localhost:9090",
                       help="Prometheus to read history from (default http://localhost:9090)")
    again.add_argument("--opa-url", help="ask this OPA server, which holds kubeheal's policies, "
                                         "instead of running opa eval")
    again.add_argument("--opa", default="opa", help="the opa binary for opa eval (default: opa)")
    again.add_argument("--policies", default="policies",
                       help="the policy bundle directory for opa eval (default: policies)")
    again.add_argument("-o", "--output", choices=("table", "json"), default="table",
                       help="output format (default: table)")
    _kubeconfig_flags(again)
    again.set_defaults(run=_replay)

    operate = commands.add_parser("run", help="run the operator (settings default to KUBEHEAL_*)")
    operate.add_argument("--kubeconfig", help="kubeconfig (default: $KUBECONFIG, else in-cluster)")
    operate.add_argument("--namespace", action="append", default=[],
                         help="watch only this namespace (repeatable; default: all)")
    operate.add_argument("--prometheus-url", help="Prometheus HTTP API base URL")
    operate.add_argument("--opa-url", help="OPA server base URL")
    operate.add_argument("--policies", help="directory of Rego policies and data.json")
    operate.add_argument("--metrics-port", type=int, help="port of /metrics (default 8080)")
    operate.add_argument("--liveness-port", type=int, help="port of the /healthz probe")
    notify = operate.add_argument_group(
        "notifications", "approval requests and escalations are POSTed to these receivers, "
        "retried with backoff in the background")
    notify.add_argument("--notify-webhook", metavar="URL",
                        help="a generic JSON webhook (or KUBEHEAL_NOTIFY_WEBHOOK_URL)")
    notify.add_argument("--notify-slack", metavar="URL",
                        help="a Slack-compatible incoming webhook (or KUBEHEAL_NOTIFY_SLACK_URL)")
    alerts = operate.add_argument_group(
        "Alertmanager receiver", "every replica records the alerts that runbooks name; the "
        "leader opens the incidents")
    alerts.add_argument("--alerts-port", type=int,
                        help="serve POST /alertmanager on this port (or KUBEHEAL_ALERTS_PORT)")
    alerts.add_argument("--alerts-token-file", metavar="FILE",
                        help="file holding the bearer token callers must send (or "
                             "KUBEHEAL_ALERTS_TOKEN_FILE)")
    operate.add_argument("--policy-timeout", type=float,
                         help="seconds to wait for OPA's answer before denying (default 1)")
    gitops_flags = operate.add_argument_group(
        "GitOps", "workloads reconciled by Argo CD or Flux need approval, and their owner's "
        "reconciliation is suspended before an action (see `kubeheal gitops resume`)")
    gitops_flags.add_argument("--argocd-namespace", metavar="NS",
                        help="namespace of the Argo CD Applications that a tracking label names "
                             "(or KUBEHEAL_ARGOCD_NAMESPACE; default argocd)")
    gitops_flags.add_argument("--argocd-tracking-label", metavar="LABEL",
                        help="Argo CD's tracking label, '' when it tracks by annotation only (or "
                             "KUBEHEAL_ARGOCD_TRACKING_LABEL; default app.kubernetes.io/instance)")
    from kubeheal.controller.retention import RetentionPolicy

    default = RetentionPolicy()
    retention = operate.add_argument_group(
        "retention", "closed Remediations are deleted once due, never while the guardrails "
        "read them (their last day), nor before their outcome is recorded (annotation "
        "kubeheal.io/outcome-recorded) unless older than the maximum age")
    retention.add_argument("--keep-remediations", type=int, default=default.keep_last,
                           metavar="N", help="closed Remediations kept per runbook, newest "
                           f"first (0: no limit by count; default {default.keep_last})")
    retention.add_argument("--remediation-ttl", type=float, metavar="SECONDS",
                           default=default.ttl.total_seconds() if default.ttl else 0,
                           help="closed Remediations older than this are due (0: no limit by "
                                "age; default 7 days)")
    retention.add_argument("--remediation-max-age", type=float, metavar="SECONDS",
                           default=default.max_age.total_seconds(),
                           help="a due Remediation whose outcome was never recorded is deleted "
                                "once this old (at least a day; default 30 days)")
    retention.add_argument("--retention-interval", type=float, metavar="SECONDS",
                           default=default.interval,
                           help=f"seconds between two clean-ups (default {default.interval:g})")
    elect = operate.add_argument_group(
        "leader election", "replicas compete for a coordination.k8s.io Lease; only its holder "
        "acts (default: this process acts alone)")
    elect.add_argument("--leader-election", action="store_true",
                       help="stand by until holding the Lease (or KUBEHEAL_LEADER_ELECTION=true)")
    elect.add_argument("--lease-name", help="the Lease (or KUBEHEAL_LEASE_NAME; default kubeheal)")
    elect.add_argument("--lease-namespace",
                       help="its namespace (or KUBEHEAL_LEASE_NAMESPACE; default: the pod's own)")
    elect.add_argument("--identity",
                       help="this replica's name in the Lease, unique among replicas (or "
                            "KUBEHEAL_IDENTITY, else POD_NAME; default: host name and pid)")
    elect.add_argument("--lease-duration", type=float, metavar="SECONDS",
                       help="how long a standby waits after the last renewal before taking "
                            "over (or KUBEHEAL_LEASE_DURATION; default 15)")
    elect.add_argument("--renew-deadline", type=float, metavar="SECONDS",
                       help="the leader exits when it could not renew for this long (or "
                            "KUBEHEAL_RENEW_DEADLINE; default 10)")
    elect.add_argument("--retry-period", type=float, metavar="SECONDS",
                       help="between renewals, and between a standby's looks (or "
                            "KUBEHEAL_RETRY_PERIOD; default 2)")
    operate.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    operate.set_defaults(run=_run)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
