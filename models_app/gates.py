"""Promotion gates: their stored shape and their evaluation. No Django here.

A registered model's `gates`:
    {
      "required_metrics": ["auc"],                                  # present and finite
      "thresholds": [{"metric": "auc", "op": ">=", "value": 0.70}],  # op: >=, >, <=, <
                  # "source": "verified" checks the metric the load check computed on the
                  # model's evaluation datasets instead of the one reported at registration
      "require_staging": true,                                      # default true
      "verify_artifact": true,                                      # default true
      "not_worse_than_production": ["auc"],                         # by the metric's direction
      "load_check": true                                            # default true, also for staging
    }
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from models_app.vocabulary import Direction, LoadCheckStatus, Stage

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
DEFAULT_GATES: dict[str, Any] = {
    "required_metrics": [],
    "thresholds": [],
    "require_staging": True,
    "verify_artifact": True,
    "not_worse_than_production": [],
    "load_check": True,
}
METRIC_SOURCES = ("reported", "verified")
# Stages that count as "staged" for the require_staging gate.
STAGED = (Stage.STAGING, Stage.ARCHIVED)


class GateConfigError(ValueError):
    pass


def clean_gates(gates: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(gates, Mapping):
        raise GateConfigError("gates must be a JSON object.")
    unknown = set(gates) - set(DEFAULT_GATES)
    if unknown:
        raise GateConfigError(
            f"Unknown gate(s) {', '.join(sorted(unknown))}; known: {', '.join(DEFAULT_GATES)}."
        )
    cleaned = {**DEFAULT_GATES, **gates}
    for key in ("required_metrics", "not_worse_than_production"):
        if not isinstance(cleaned[key], list) or not all(
            isinstance(m, str) and m for m in cleaned[key]
        ):
            raise GateConfigError(f"gates.{key} must be a list of metric names.")
    for key in ("require_staging", "verify_artifact", "load_check"):
        if not isinstance(cleaned[key], bool):
            raise GateConfigError(f"gates.{key} must be true or false.")
    if not isinstance(cleaned["thresholds"], list):
        raise GateConfigError("gates.thresholds must be a list.")
    cleaned["thresholds"] = [_clean_threshold(dict(t) if isinstance(t, Mapping) else t)
                             for t in cleaned["thresholds"]]
    return cleaned


def _clean_threshold(threshold: Any) -> dict[str, Any]:
    if not isinstance(threshold, dict) or not isinstance(threshold.get("metric"), str):
        raise GateConfigError("each threshold needs a metric, an op and a value.")
    if threshold.get("op") not in OPERATORS:
        raise GateConfigError(
            f"threshold on '{threshold['metric']}' has op {threshold.get('op')!r}; "
            f"use one of {', '.join(OPERATORS)}."
        )
    threshold["value"] = _finite_bound(threshold)
    source = threshold.get("source", "reported")
    if source not in METRIC_SOURCES:
        raise GateConfigError(
            f"threshold on '{threshold['metric']}' has source {source!r}; use "
            f"{' or '.join(METRIC_SOURCES)}."
        )
    return threshold


def _finite_bound(threshold: dict[str, Any]) -> float:
    value = threshold.get("value")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise GateConfigError(f"threshold on '{threshold['metric']}' needs a finite value.")
    try:
        number = float(value)
    except OverflowError:
        number = math.nan
    if not math.isfinite(number):
        raise GateConfigError(f"threshold on '{threshold['metric']}' needs a finite value.")
    return number


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    wanted: str
    got: str

    def as_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "passed": self.passed, "wanted": self.wanted, "got": self.got}


@dataclass(frozen=True)
class GateReport:
    results: tuple[GateResult, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.results)

    @property
    def failed(self) -> tuple[GateResult, ...]:
        return tuple(result for result in self.results if not result.passed)

    def as_list(self) -> list[dict[str, Any]]:
        return [result.as_dict() for result in self.results]

    def summary(self) -> str:
        if self.passed:
            return "All gates passed."
        return "; ".join(f"{r.gate}: wanted {r.wanted}, got {r.got}" for r in self.failed)


def _finite(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def evaluate_gates(
    gates: Mapping[str, Any],
    *,
    metrics: Mapping[str, Any],
    from_stage: str,
    artifact_ok: bool | None,
    production_metrics: Mapping[str, Any] | None,
    directions: Mapping[str, str],
    load_check: Mapping[str, Any] | None = None,
    verified_metrics: Mapping[str, Any] | None = None,
) -> GateReport:
    """Check a version about to enter production against its model's gates.

    `load_check`: the version's {"status", "error"?}; `verified_metrics`: the metrics the
    load check computed on the model's evaluation datasets.
    """
    gates = {**DEFAULT_GATES, **gates}
    check = load_check_gate(gates, load_check)
    results: list[GateResult] = [check] if check is not None else []
    results += [_required_metric(metric, metrics.get(metric))
                for metric in gates["required_metrics"]]
    results += [_threshold(t, metrics, verified_metrics or {}) for t in gates["thresholds"]]
    if gates["require_staging"]:
        # An archived version has run in production, a stronger trial than staging, and no
        # move leads from archived back to staging: rolling it forward counts as staged.
        results.append(GateResult("require_staging", from_stage in STAGED, "from staging",
                                  from_stage))
    if gates["verify_artifact"]:
        results.append(
            GateResult(
                "verify_artifact",
                bool(artifact_ok),
                "artifact matches its sha256",
                "matches" if artifact_ok else "missing or changed",
            )
        )
    results += [
        _not_worse(metric, metrics.get(metric), production_metrics,
                   directions.get(metric, Direction.HIGHER) == Direction.LOWER)
        for metric in gates["not_worse_than_production"]
    ]
    return GateReport(tuple(results))


def _required_metric(metric: str, value: Any) -> GateResult:
    return GateResult(f"required_metric:{metric}", _finite(value), "present and finite",
                      "missing" if value is None else repr(value))


def _threshold(
    threshold: Mapping[str, Any], metrics: Mapping[str, Any], verified_metrics: Mapping[str, Any]
) -> GateResult:
    metric, op, bound = threshold["metric"], threshold["op"], threshold["value"]
    verified = threshold.get("source") == "verified"
    value = verified_metrics.get(metric) if verified else metrics.get(metric)
    passed = _finite(value) and OPERATORS[op](value, bound)
    label = f"verified {metric}" if verified else metric
    if value is not None:
        got = f"{label} = {value}"
    else:
        got = "not verified (no evaluation dataset scored)" if verified else "missing"
    return GateResult(f"threshold:{metric}" + (":verified" if verified else ""), passed,
                      f"{label} {op} {bound}", got)


def _not_worse(
    metric: str, value: Any, production_metrics: Mapping[str, Any] | None, lower_better: bool
) -> GateResult:
    name = f"not_worse_than_production:{metric}"
    if production_metrics is None:
        return GateResult(name, True, "no worse than production", "no production version")
    current = production_metrics.get(metric)
    if not _finite(value):
        passed = False
    elif not _finite(current):
        passed = True
    else:
        passed = value <= current if lower_better else value >= current
    return GateResult(name, passed,
                      f"{metric} {'<=' if lower_better else '>='} {current} (production)",
                      "missing" if value is None else f"{metric} = {value}")


def load_check_gate(
    gates: Mapping[str, Any], load_check: Mapping[str, Any] | None
) -> GateResult | None:
    """The "load check passed" gate (staging and production), or None when it is off."""
    if not {**DEFAULT_GATES, **gates}["load_check"]:
        return None
    check = load_check or {}
    status = check.get("status", LoadCheckStatus.PENDING)
    got = status
    if status == LoadCheckStatus.FAILED and check.get("error"):
        hint = check.get("hint")
        got = f"failed: {check['error']}" + (f" ({hint})" if hint else "")
    elif status == LoadCheckStatus.PENDING:
        got = "pending (a worker has not checked this version yet)"
    return GateResult("load_check", status == LoadCheckStatus.PASSED, "load check passed", got)
