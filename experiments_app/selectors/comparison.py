from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from experiments_app.errors import InvalidSearch, RunNotFound
from experiments_app.models import LatestMetric, Param, Run
from experiments_app.tracking_input import json_number

MAX_COMPARED_RUNS = 200


@dataclass(frozen=True)
class RunComparison:
    """Params and latest metrics of several runs side by side.

    `params` and `metrics` are DataFrames with one row per key and one column per run
    (missing values are None / NaN); `differing_params` names the params whose value is not
    the same in every run (a param missing from some run differs).
    """

    run_ids: list[str]
    runs: dict[str, dict[str, Any]]
    param_values: dict[str, dict[str, str]]  # key -> run_id -> value
    metric_values: dict[str, dict[str, float]]  # key -> run_id -> value (NaN kept)
    differing_params: list[str]

    @property
    def params(self) -> pd.DataFrame:
        return pd.DataFrame(
            [[self.param_values[key].get(run) for run in self.run_ids]
             for key in self.param_values],
            index=pd.Index(list(self.param_values), name="param"),
            columns=self.run_ids, dtype=object,
        )

    @property
    def metrics(self) -> pd.DataFrame:
        return pd.DataFrame(
            [[self.metric_values[key].get(run, math.nan) for run in self.run_ids]
             for key in self.metric_values],
            index=pd.Index(list(self.metric_values), name="metric"),
            columns=self.run_ids, dtype=float,
        )

    def as_dict(self) -> dict[str, Any]:
        differing = set(self.differing_params)
        return {
            "run_ids": self.run_ids,
            "runs": self.runs,
            "params": {
                key: {"values": {run: values.get(run) for run in self.run_ids},
                      "differs": key in differing}
                for key, values in self.param_values.items()
            },
            "metrics": {
                key: {"values": {
                    run: json_number(values[run]) if run in values else None
                    for run in self.run_ids
                }}
                for key, values in self.metric_values.items()
            },
            "differing_params": self.differing_params,
        }


def runs_compare(*, run_ids: list[str]) -> RunComparison:
    ordered = list(dict.fromkeys(run_id.strip() for run_id in run_ids if run_id.strip()))
    if not ordered:
        raise InvalidSearch("Name the runs to compare: ?run_ids=<id>,<id>.")
    if len(ordered) > MAX_COMPARED_RUNS:
        raise InvalidSearch(f"Compare at most {MAX_COMPARED_RUNS} runs at once.")
    rows = {
        row[0]: row
        for row in Run.objects.filter(run_id__in=ordered).values_list(
            "run_id", "pk", "name", "status", "experiment_id", "experiment__name"
        )
    }
    missing = [run_id for run_id in ordered if run_id not in rows]
    if missing:
        raise RunNotFound(f"No run(s) with id {', '.join(missing)}.", details={"missing": missing})
    by_pk = {row[1]: row[0] for row in rows.values()}
    params: dict[str, dict[str, str]] = {}
    for run_pk, key, value in Param.objects.filter(run_id__in=list(by_pk)).order_by(
        "key"
    ).values_list("run_id", "key", "value"):
        params.setdefault(key, {})[by_pk[run_pk]] = value
    metrics: dict[str, dict[str, float]] = {}
    for run_pk, metric_key, number, nan in LatestMetric.objects.filter(
        run_id__in=list(by_pk)
    ).order_by("key").values_list("run_id", "key", "value", "is_nan"):
        metrics.setdefault(metric_key, {})[by_pk[run_pk]] = math.nan if nan else number
    differing = [
        key for key, values in params.items()
        if len(values) < len(ordered) or len(set(values.values())) > 1
    ]
    runs = {
        run_id: {"name": rows[run_id][2], "status": rows[run_id][3],
                 "experiment_id": rows[run_id][4], "experiment": rows[run_id][5]}
        for run_id in ordered
    }
    return RunComparison(ordered, runs, params, metrics, differing)
