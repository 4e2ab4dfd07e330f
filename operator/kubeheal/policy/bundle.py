"""Policies and guardrail configuration, read from the ``policies/`` directory or from a
ConfigMap, and the version that names them.

The layout follows OPA's bundle convention, so ``opa test policies/`` and
``opa run policies/`` see the same documents as the operator: every ``*.rego`` file except
tests is a policy, and ``kubeheal/config/data.json`` is the guardrail configuration, which
OPA mounts at ``data.kubeheal.config``. In a ConfigMap (whose keys cannot hold ``/``) the
policies are the keys ending in ``.rego`` and the configuration is the key ``data.json``.

>>> b = bundle_from_configmap({"decision.rego": "package kubeheal", "data.json": '{"a": 1}',
...                            "decision_test.rego": "package kubeheal", "README": "hi"})
>>> sorted(b.policies), dict(b.config)
(['decision.rego'], {'a': 1})
>>> b.version == bundle_from_configmap({"decision.rego": "package kubeheal",
...                                     "data.json": '{ "a" : 1 }'}).version
True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

CONFIG_FILE = Path("kubeheal/config/data.json")
CONFIGMAP_CONFIG_KEY = "data.json"


def policy_version(policies: Mapping[str, str], config: Mapping[str, Any]) -> str:
    """A digest of the policy texts (sorted by id) and the configuration.

    Equal policies and data give equal versions, whatever the file order or the JSON
    formatting; any change gives a new one.

    >>> policy_version({"a.rego": "package a"}, {}) == policy_version({"a.rego": "package a"}, {})
    True
    >>> len(policy_version({}, {}))
    16
    """
    canonical = json.dumps(
        {"policies": sorted(policies.items()), "config": dict(config)},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PolicyBundle:
    """Policy texts by id, and the document that becomes ``data.kubeheal.config``."""

    policies: Mapping[str, str]
    config: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "policies", MappingProxyType(dict(self.policies)))
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))

    @property
    def version(self) -> str:
        """The :func:`policy_version` of this bundle."""
        return policy_version(self.policies, self.config)


def _is_policy(name: str) -> bool:
    return name.endswith(".rego") and not name.endswith("_test.rego")


def read_policy_directory(root: Path | str) -> PolicyBundle:
    """The policies under ``root`` (ids are paths relative to it) and its configuration."""
    root = Path(root)
    policies = {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*.rego"))
        if _is_policy(path.name)
    }
    config_path = root / CONFIG_FILE
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.exists() else {}
    if not isinstance(config, dict):
        raise ValueError(f"{config_path} must hold a JSON object")
    return PolicyBundle(policies, config)


def bundle_from_configmap(data: Mapping[str, str]) -> PolicyBundle:
    """The policies and configuration in a ConfigMap's ``data``."""
    policies = {key: text for key, text in data.items() if _is_policy(key)}
    config = json.loads(data[CONFIGMAP_CONFIG_KEY]) if CONFIGMAP_CONFIG_KEY in data else {}
    if not isinstance(config, dict):
        raise ValueError(f"ConfigMap key {CONFIGMAP_CONFIG_KEY} must hold a JSON object")
    return PolicyBundle(policies, config)
