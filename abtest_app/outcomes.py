"""Outcome batches: validation, de-duplication and per-arm sums. Pure computation, no Django.

A batch is a list of {"unit_id", "value", "outcome_id"?, "metrics"?: {guardrail: value},
"arm"?, "covariate"?, "denominator"?, "covariate_denominator"?}: the covariate is the
unit's pre-period value of the primary metric (CUPED), the denominator that of a ratio
metric (required there), and the covariate denominator the pre-period denominator of a
ratio metric (CUPED on a ratio: the covariate is then its numerator). A missing covariate
or covariate denominator counts as 0, each on its own (GrowthBook's convention for units
without pre-exposure data).
Values are checked here so that a bad item answers 400 naming its index, and the
database only sees rows it can store. Sums are taken with numpy so that a batch of
10,000 costs one UPDATE per arm and metric, not one per outcome.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .outcome_columns import MAX_ABS_VALUE, MAX_OUTCOME_ID, MAX_UNIT_ID, uniform_columns
from .vocabulary import Arm

__all__ = ["MAX_ABS_VALUE", "MAX_OUTCOME_ID", "MAX_UNIT_ID"]  # with the names defined here
ARMS: tuple[str, ...] = tuple(Arm.values)  # plain strings: compared per outcome
_MISSING = object()


class OutcomeError(ValueError):
    """A batch item that cannot be stored; ``index`` is its position in the batch."""

    def __init__(self, message: str, index: int | None = None):
        super().__init__(message if index is None else f"outcomes[{index}]: {message}")
        self.index = index


@dataclass(frozen=True)
class MetricSpec:
    name: str
    binary: bool


@dataclass
class OutcomeBatch:
    unit_ids: list[str]
    values: np.ndarray  # float64, the primary metric
    outcome_ids: list[str | None]
    metrics: list[dict[str, float] | None]  # guardrail values per outcome
    claimed_arms: list[str | None]  # an arm the caller says it served, checked later
    covariates: list[float | None]  # None: not given
    denominators: list[float | None]
    covariate_denominators: list[float | None]

    def __len__(self) -> int:
        return len(self.unit_ids)

    def take(self, keep: Sequence[int]) -> OutcomeBatch:
        return OutcomeBatch(
            unit_ids=[self.unit_ids[i] for i in keep],
            values=self.values[np.asarray(keep, dtype=np.int64)],
            outcome_ids=[self.outcome_ids[i] for i in keep],
            metrics=[self.metrics[i] for i in keep],
            claimed_arms=[self.claimed_arms[i] for i in keep],
            covariates=[self.covariates[i] for i in keep],
            denominators=[self.denominators[i] for i in keep],
            covariate_denominators=[self.covariate_denominators[i] for i in keep],
        )


def _number(value: object, *, binary: bool, what: str, index: int) -> float:
    if isinstance(value, bool):
        if binary:
            return float(value)
        raise OutcomeError(f"{what} must be a number, got {value!r}", index)
    if not isinstance(value, (int, float)):
        raise OutcomeError(f"{what} must be a number, got {value!r}", index)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise OutcomeError(f"{what} must be finite, got {value!r}", index)
    if abs(number) > MAX_ABS_VALUE:
        raise OutcomeError(
            f"{what} is {value!r}, beyond ±{MAX_ABS_VALUE:g}; send the metric in smaller units",
            index,
        )
    if binary and number not in (0.0, 1.0):
        raise OutcomeError(f"{what} is a binary metric: give 0 or 1, got {value!r}", index)
    return number


def _identifier(value: object, what: str, limit: int, index: int) -> str:
    """An id given as a string or an integer (stored as its decimal string)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise OutcomeError(
            f"{what} must be a non-empty string of at most {limit} characters", index
        )
    return value


def _check_batch(items: object, max_batch: int) -> list[object]:
    if not isinstance(items, list):
        raise OutcomeError("outcomes must be a list of objects")
    if not items:
        raise OutcomeError("outcomes is empty: send at least one outcome")
    if len(items) > max_batch:
        raise OutcomeError(f"at most {max_batch} outcomes per request, got {len(items)}")
    return items


def _guardrail_values(extra: object, specs: Mapping[str, bool], index: int) -> dict[str, float]:
    if not isinstance(extra, dict):
        raise OutcomeError("metrics must be an object of guardrail name to value", index)
    clean: dict[str, float] = {}
    for name, metric_value in extra.items():
        if name not in specs:
            known = ", ".join(specs) or "none"
            raise OutcomeError(
                f"metrics.{name} is not a guardrail of this test (guardrails: {known})", index
            )
        clean[name] = _number(metric_value, binary=specs[name], what=f"metrics.{name}",
                              index=index)
    return clean


def _bad_arm(arm: object, index: int) -> OutcomeError:
    return OutcomeError(f"arm must be one of {', '.join(ARMS)}, got {arm!r}", index)


def _denominator(value: object, index: int, what: str = "denominator") -> float:
    if value is _MISSING or value is None:
        raise OutcomeError("denominator is missing: this test's metric is a ratio, so every "
                           "outcome carries its denominator", index)
    number = _number(value, binary=False, what=what, index=index)
    if number < 0:
        raise OutcomeError(f"{what} must be >= 0, got {value!r}", index)
    return number


def _ratio_fields(item: dict, i: int, out: _Columns) -> None:
    denominator = item.get("denominator", _MISSING)
    if type(denominator) is float and 0 <= denominator <= MAX_ABS_VALUE:
        out.denominators[i] = denominator
    else:
        out.denominators[i] = _denominator(denominator, i)
    pre = item.get("covariate_denominator")
    if pre is not None:
        if type(pre) is float and 0 <= pre <= MAX_ABS_VALUE:
            out.covariate_denominators[i] = pre
        else:
            out.covariate_denominators[i] = _denominator(pre, i, "covariate_denominator")


@dataclass
class _Columns:
    """The optional columns parse_outcomes fills, one list entry per outcome."""

    metrics: list[dict[str, float] | None]
    claimed: list[str | None]
    covariates: list[float | None]
    denominators: list[float | None]
    covariate_denominators: list[float | None]


def _optional_fields(item: dict, i: int, specs: Mapping[str, bool], binary: bool,
                     ratio: bool, out: _Columns) -> None:
    covariate = item.get("covariate")
    if covariate is not None:
        if type(covariate) is float and not binary and -MAX_ABS_VALUE <= covariate \
                <= MAX_ABS_VALUE:
            out.covariates[i] = covariate
        else:  # a binary metric's covariate is its pre-period 0/1 value
            out.covariates[i] = _number(covariate, binary=binary, what="covariate", index=i)
    if ratio:
        _ratio_fields(item, i, out)
    else:
        for name in ("denominator", "covariate_denominator"):
            if name in item:
                raise OutcomeError(f"{name} is only for a test whose metric is a ratio "
                                   "(ratio_metric); leave it out", i)
    extra = item.get("metrics")
    if extra is not None:
        out.metrics[i] = _guardrail_values(extra, specs, i) or None
    arm = item.get("arm")
    if arm is not None:
        if arm not in ARMS:
            raise _bad_arm(arm, i)
        out.claimed[i] = arm


def _from_columns(columns: dict[str, list], values: np.ndarray) -> OutcomeBatch:
    n = values.size

    def column(key: str) -> list:
        return columns[key] if key in columns else [None] * n

    return OutcomeBatch(
        unit_ids=columns["unit_id"],
        values=values,
        outcome_ids=column("outcome_id"),
        metrics=[None] * n,
        claimed_arms=[None] * n,
        covariates=column("covariate"),
        denominators=column("denominator"),
        covariate_denominators=column("covariate_denominator"),
    )


def parse_outcomes(
    items: object,
    *,
    primary_binary: bool,
    guardrails: Sequence[MetricSpec] = (),
    max_batch: int = 10_000,
    ratio: bool = False,
) -> OutcomeBatch:
    """Validate a list of outcome objects; raise :class:`OutcomeError` on the first bad one.

    ``ratio``: the test's metric is a ratio, so each outcome needs a ``denominator`` and
    may carry a ``covariate_denominator`` (refused on any other test).
    ``max_batch`` is checked by the caller too (to answer 413 before parsing items), and
    again here so that this function is safe on its own.
    """
    items = _check_batch(items, max_batch)
    uniform = uniform_columns(items, binary=primary_binary, ratio=ratio)
    if uniform is not None:
        columns, values_array = uniform
        return _from_columns(columns, values_array)
    specs = {spec.name: spec.binary for spec in guardrails}
    n = len(items)
    unit_ids: list[str] = [""] * n
    values: list[float] = [0.0] * n
    outcome_ids: list[str | None] = [None] * n
    out = _Columns([None] * n, [None] * n, [None] * n, [None] * n, [None] * n)
    # The loop runs 10,000 times per request: common shapes take the first branch, and
    # only items with more than unit_id, value and outcome_id call the helpers.
    for i, item in enumerate(items):
        if type(item) is not dict:
            raise OutcomeError("each outcome must be an object", i)
        unit = item.get("unit_id")
        if type(unit) is not str or not 0 < len(unit) <= MAX_UNIT_ID:
            unit = _identifier(unit, "unit_id", MAX_UNIT_ID, i)
        unit_ids[i] = unit
        value = item.get("value", _MISSING)
        if type(value) is float and not primary_binary and -MAX_ABS_VALUE <= value <= MAX_ABS_VALUE:
            values[i] = value
        elif value is _MISSING:
            raise OutcomeError("value is missing", i)
        else:
            values[i] = _number(value, binary=primary_binary, what="value", index=i)
        outcome_id = item.get("outcome_id")
        known = 2
        if outcome_id is not None:
            if type(outcome_id) is not str or not 0 < len(outcome_id) <= MAX_OUTCOME_ID:
                outcome_id = _identifier(outcome_id, "outcome_id", MAX_OUTCOME_ID, i)
            outcome_ids[i] = outcome_id
            known = 3
        if len(item) > known or ratio:
            _optional_fields(item, i, specs, primary_binary, ratio, out)
    return OutcomeBatch(unit_ids, np.array(values, dtype=np.float64), outcome_ids, out.metrics,
                        out.claimed, out.covariates, out.denominators,
                        out.covariate_denominators)


def first_occurrences(outcome_ids: Sequence[str | None]) -> list[int] | None:
    """Positions to keep so each outcome id appears once (its first time); None if all unique."""
    given = outcome_ids if None not in outcome_ids else [
        outcome_id for outcome_id in outcome_ids if outcome_id is not None]
    if len(set(given)) == len(given):
        return None
    seen: set[str] = set()
    keep: list[int] = []
    repeated = False
    for i, outcome_id in enumerate(outcome_ids):
        if outcome_id is None:
            keep.append(i)
        elif outcome_id in seen:
            repeated = True
        else:
            seen.add(outcome_id)
            keep.append(i)
    return keep if repeated else None


def check_claimed_arms(claimed: Sequence[str | None], arms: Sequence[str]) -> None:
    """A caller that names an arm must name the one assignment gives the unit."""
    for i, (said, actual) in enumerate(zip(claimed, arms, strict=True)):
        if said is not None and said != actual:
            raise OutcomeError(
                f"arm {said!r} does not match the unit's assignment ({actual}); "
                "route units with the test's assignment",
                i,
            )


@dataclass(frozen=True)
class Increment:
    """How much one arm's running sums of one metric grow (names as ``stats.ArmStats``)."""

    arm: str
    metric: str  # "" for the primary metric
    n: int
    total: float
    total_sq: float
    cov_n: int = 0
    cov_total: float = 0.0
    cov_total_sq: float = 0.0
    value_cov_total: float = 0.0
    den_n: int = 0
    den_total: float = 0.0
    den_total_sq: float = 0.0
    value_den_total: float = 0.0
    cov_den_n: int = 0
    cov_den_total: float = 0.0
    cov_den_total_sq: float = 0.0
    value_cov_den_total: float = 0.0
    den_cov_total: float = 0.0
    den_cov_den_total: float = 0.0
    cov_cov_den_total: float = 0.0


def _filled(column: np.ndarray | None) -> tuple[int, np.ndarray | None]:
    """(count given, the column with 0 where missing) of an optional column (NaN: missing);
    (0, None) when no outcome gave it."""
    if column is None:
        return 0, None
    given = ~np.isnan(column)
    count = int(given.sum())
    if count == 0:
        return 0, None
    return count, (column if count == column.size else np.where(given, column, 0.0))


def _dot(a: np.ndarray | None, b: np.ndarray | None) -> float:
    return 0.0 if a is None or b is None else float(np.dot(a, b))


def _primary_increment(arm: str, x: np.ndarray, covariates: np.ndarray | None,
                       denominators: np.ndarray | None,
                       covariate_denominators: np.ndarray | None) -> Increment:
    cov_n, c = _filled(covariates)
    den_n, d = _filled(denominators)
    cov_den_n, e = _filled(covariate_denominators)
    return Increment(
        arm, "", int(x.size), float(x.sum()), float(np.dot(x, x)),
        cov_n, 0.0 if c is None else float(c.sum()), _dot(c, c), _dot(x, c),
        den_n, 0.0 if d is None else float(d.sum()), _dot(d, d), _dot(x, d),
        cov_den_n, 0.0 if e is None else float(e.sum()), _dot(e, e), _dot(x, e),
        _dot(d, c), _dot(d, e), _dot(c, e),
    )


def _guardrail_columns(
    is_challenger: np.ndarray, metrics: Sequence[Mapping[str, float] | None],
    guardrails: Sequence[str],
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    columns: list[tuple[str, np.ndarray, np.ndarray]] = []
    if not guardrails or not any(m for m in metrics):
        return columns
    for name in guardrails:
        present = [(i, m[name]) for i, m in enumerate(metrics) if m and name in m]
        if not present:
            continue
        rows = np.fromiter((i for i, _ in present), dtype=np.int64, count=len(present))
        vals = np.fromiter((v for _, v in present), dtype=np.float64, count=len(present))
        columns.append((name, is_challenger[rows], vals))
    return columns


def increments(
    is_challenger: np.ndarray,
    values: np.ndarray,
    metrics: Sequence[Mapping[str, float] | None],
    guardrails: Sequence[str] = (),
    *,
    covariates: np.ndarray | None = None,
    denominators: np.ndarray | None = None,
    covariate_denominators: np.ndarray | None = None,
) -> list[Increment]:
    """Per arm and metric: how much the running sums grow. Sorted by (arm, metric).

    ``covariates``, ``denominators`` and ``covariate_denominators`` (float arrays, NaN
    where not given, counted as 0) add to the primary metric's sums. Zero increments are
    left out. The fixed order keeps concurrent writers from deadlocking on the statistics
    rows.
    """
    out: list[Increment] = []
    is_challenger = np.asarray(is_challenger, dtype=bool)
    columns = sorted(_guardrail_columns(is_challenger, metrics, guardrails), key=lambda c: c[0])
    for arm, flag in ((Arm.CHALLENGER, True), (Arm.CHAMPION, False)):
        picked = is_challenger == flag
        if picked.any():
            out.append(_primary_increment(
                arm, values[picked],
                None if covariates is None else covariates[picked],
                None if denominators is None else denominators[picked],
                None if covariate_denominators is None else covariate_denominators[picked],
            ))
        for metric, which, vals in columns:
            chosen = vals[which == flag]
            if chosen.size:
                out.append(Increment(arm=arm, metric=metric, n=int(chosen.size),
                                     total=float(chosen.sum()),
                                     total_sq=float(np.dot(chosen, chosen))))
    return out
