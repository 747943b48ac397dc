"""Experiment tracking: experiments, runs, logging, run artifacts and the run reads.

    with client.start_run("ranking-lgbm", name="lr sweep") as run:
        run.log_params({"lr": 0.1, "depth": 6})
        for step, loss in enumerate(losses):
            run.log_metric("loss", loss, step=step)
        run.log_artifact("model.pkl", "model/model.pkl")
        run.register_version("ranking", "model/model.pkl", framework="lightgbm",
                             artifact_format="pickle")
    # finished on success; failed (killed on Ctrl-C) if the block raised, and it re-raises

Metric values NaN and +/-infinity travel as the strings "NaN", "Infinity", "-Infinity";
the read helpers turn them back into floats.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import requests

from axion_client.http import AxionAPIError, Transport

MAX_BATCH_METRICS = 10_000
MAX_BATCH_PARAMS = 100
MAX_BATCH_TAGS = 100
_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def to_json_number(value: Any) -> Any:
    """A metric value as the API takes it: NaN and infinities as strings."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def from_json_number(value: Any) -> Any:
    """A metric value as the API writes it, back to a float ("NaN" -> nan ...)."""
    if isinstance(value, str):
        return _SPECIAL.get(value, value)
    return value


def _now_ms() -> int:
    return int(time.time() * 1000)


class ExperimentsAPI(Transport):
    # -- experiments and runs -------------------------------------------------------------

    def create_experiment(self, name: str, description: str = "",
                          tags: Mapping[str, str] | None = None) -> dict[str, Any]:
        return self.post("experiments/", {"name": name, "description": description,
                                          "tags": dict(tags or {})})

    def list_experiments(self, *, max_results: int | None = None,
                         **filters: Any) -> list[dict[str, Any]]:
        return self.collect("experiments/", max_results=max_results, **filters)

    def get_experiment(self, experiment_id: int) -> dict[str, Any]:
        return self.get(f"experiments/{experiment_id}/")

    def update_experiment(self, experiment_id: int, *, description: str | None = None,
                          tags: Mapping[str, str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"description": description, "tags": tags}
        return self.patch(f"experiments/{experiment_id}/",
                          {k: v for k, v in body.items() if v is not None})

    def create_run(self, experiment: str | int, name: str = "", *,
                   tags: Mapping[str, Any] | None = None,
                   params: Mapping[str, Any] | None = None,
                   parent_run_id: str | None = None, source: str = "") -> dict[str, Any]:
        """Start a run; `experiment` is an id or a name (a new name creates it)."""
        return self.post("runs/", {
            "experiment": str(experiment), "name": name or "", "tags": dict(tags or {}),
            "params": {k: _param(v) for k, v in (params or {}).items()},
            "parent_run_id": parent_run_id, "source": source,
        })

    def get_run(self, run_id: str) -> dict[str, Any]:
        return _metrics_to_float(self.get(f"runs/{run_id}/"))

    def end_run(self, run_id: str, status: str = "finished") -> dict[str, Any]:
        return self.post(f"runs/{run_id}/end/", {"status": status})

    @contextmanager
    def start_run(self, experiment: str | int, name: str | None = None, *,
                  tags: Mapping[str, Any] | None = None,
                  params: Mapping[str, Any] | None = None,
                  parent_run_id: str | None = None, source: str | None = None,
                  ) -> Iterator[ActiveRun]:
        """A run for the `with` block: finished when the block ends, failed when it raises
        (killed on KeyboardInterrupt); the exception is re-raised."""
        data = self.create_run(experiment, name or "", tags=tags, params=params,
                               parent_run_id=parent_run_id,
                               source=source if source is not None else _default_source())
        run = ActiveRun(self, data)
        try:
            yield run
        except BaseException as exc:
            status = "killed" if isinstance(exc, KeyboardInterrupt) else "failed"
            if not run.ended:
                try:
                    run.end(status)
                except (AxionAPIError, requests.RequestException):
                    pass  # the original exception matters more
            raise
        else:
            if not run.ended:
                run.end("finished")

    # -- logging --------------------------------------------------------------------------

    def log_metric(self, run_id: str, key: str, value: float, step: int = 0,
                   timestamp: int | None = None) -> dict[str, Any]:
        return self.post(f"runs/{run_id}/log-metric/", {
            "key": key, "value": to_json_number(value), "step": step,
            "timestamp": timestamp if timestamp is not None else _now_ms(),
        })

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0,
                    timestamp: int | None = None) -> None:
        """Several metrics at one step, in as few batches as the limits allow."""
        stamp = timestamp if timestamp is not None else _now_ms()
        self.log_batch(run_id, metrics=[
            {"key": key, "value": value, "step": step, "timestamp": stamp}
            for key, value in metrics.items()
        ])

    def log_param(self, run_id: str, key: str, value: Any) -> dict[str, Any]:
        return self.post(f"runs/{run_id}/log-param/", {"key": key, "value": _param(value)})

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        self.log_batch(run_id, params=params)

    def set_tag(self, run_id: str, key: str, value: Any) -> dict[str, Any]:
        return self.post(f"runs/{run_id}/set-tag/", {"key": key, "value": str(value)})

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> dict[str, Any]:
        return self.post(f"runs/{run_id}/set-tag/", {"tags": {k: str(v) for k, v in
                                                              tags.items()}})

    def delete_tag(self, run_id: str, key: str) -> dict[str, Any]:
        return self.post(f"runs/{run_id}/delete-tag/", {"key": key})

    def log_batch(self, run_id: str, metrics: Iterable[Mapping[str, Any]] = (),
                  params: Mapping[str, Any] | None = None,
                  tags: Mapping[str, Any] | None = None) -> None:
        """Metrics ({key, value, step?, timestamp?}), params and tags, split into requests
        within the server's limits (10,000 metrics, 100 params, 100 tags each)."""
        stamp = _now_ms()
        points = [
            {"key": m["key"], "value": to_json_number(m["value"]), "step": m.get("step", 0),
             "timestamp": m.get("timestamp") or stamp}
            for m in metrics
        ]
        param_items = [(k, _param(v)) for k, v in (params or {}).items()]
        tag_items = [(k, str(v)) for k, v in (tags or {}).items()]
        first = True
        while first or points or param_items or tag_items:
            first = False
            body = {
                "metrics": points[:MAX_BATCH_METRICS],
                "params": dict(param_items[:MAX_BATCH_PARAMS]),
                "tags": dict(tag_items[:MAX_BATCH_TAGS]),
            }
            points = points[MAX_BATCH_METRICS:]
            param_items = param_items[MAX_BATCH_PARAMS:]
            tag_items = tag_items[MAX_BATCH_TAGS:]
            self.post(f"runs/{run_id}/log-batch/", body)

    def log_artifact(self, run_id: str, local_path: str,
                     artifact_path: str | None = None) -> dict[str, Any]:
        """Upload a local file; `artifact_path` is where in the run (a path ending in / is a
        folder), default the file's name."""
        with open(local_path, "rb") as handle:
            return self.post(
                f"runs/{run_id}/artifacts/",
                files={"file": (os.path.basename(local_path), handle)},
                data={"path": artifact_path or ""},
            )

    def list_artifacts(self, run_id: str, path: str = "") -> list[dict[str, Any]]:
        return self.get(f"runs/{run_id}/artifacts/", path=path or None)["files"]

    def open_artifact(self, run_id: str, path: str) -> Any:
        """One artifact file as a file-like stream (read it, then close it)."""
        response = self.request("GET", f"runs/{run_id}/artifacts/download/",
                                params={"path": path}, stream=True)
        response.raw.decode_content = True
        return response.raw

    def download_artifact(self, run_id: str, path: str, local_path: str) -> str:
        response = self.request("GET", f"runs/{run_id}/artifacts/download/",
                                params={"path": path}, stream=True)
        with open(local_path, "wb") as handle:
            for chunk in response.iter_content(1024 * 1024):
                handle.write(chunk)
        return local_path

    def register_version(self, run_id: str, model: str, artifact_path: str, *,
                         framework: str, artifact_format: str, **fields: Any) -> dict[str, Any]:
        """Register a model version from a file in the run's artifacts (lineage kept).
        Fields: version or bump, metrics / hyperparameters overrides, tags, description,
        signature, input_example."""
        return self.post(f"runs/{run_id}/register-version/", {
            "model": model, "artifact_path": artifact_path, "framework": framework,
            "artifact_format": artifact_format, **fields,
        })

    # -- reads ----------------------------------------------------------------------------

    def search_runs(self, *, experiment: str | int | None = None,
                    status: str | list[str] | None = None,
                    params: Mapping[str, Any] | None = None,
                    tags: Mapping[str, Any] | None = None,
                    metrics: Iterable[str] = (), order_by: str | None = None,
                    desc: bool = False, max_results: int | None = None,
                    **filters: Any) -> list[dict[str, Any]]:
        """Runs matching every filter: params/tags as {key: value}, metrics as conditions
        ("auc>=0.7"), ordered by e.g. "metric.auc"."""
        query = {
            "experiment": experiment, "status": status,
            "param": [f"{k}:{_param(v)}" for k, v in (params or {}).items()],
            "tag": [f"{k}:{v}" for k, v in (tags or {}).items()],
            "metric": list(metrics), "order_by": order_by, "desc": 1 if desc else None,
            **filters,
        }
        return [_metrics_to_float(run)
                for run in self.paginate("runs/", max_results=max_results, **query)]

    def compare_runs(self, run_ids: Iterable[str]) -> dict[str, Any]:
        data = self.get("runs/compare/", run_ids=",".join(run_ids))
        for metric in data["metrics"].values():
            metric["values"] = {k: from_json_number(v) for k, v in metric["values"].items()}
        return data

    def metric_history(self, run_id: str, key: str,
                       max_points: int | None = None) -> dict[str, Any]:
        series = self.get(f"runs/{run_id}/metrics/{quote(key, safe='')}/history/",
                          max_points=max_points)
        return _series_to_float(series)

    def metric_histories(self, run_ids: Iterable[str], key: str,
                         max_points: int | None = None) -> list[dict[str, Any]]:
        data = self.get("metrics/history/", run_ids=",".join(run_ids), key=key,
                        max_points=max_points)
        return [_series_to_float(series) for series in data["series"]]

    def best_run(self, experiment_id: int, metric: str, direction: str = "max", *,
                 params: Mapping[str, Any] | None = None,
                 tags: Mapping[str, Any] | None = None) -> dict[str, Any]:
        data = self.get(
            f"experiments/{experiment_id}/best-run/", metric=metric, direction=direction,
            param=[f"{k}:{_param(v)}" for k, v in (params or {}).items()],
            tag=[f"{k}:{v}" for k, v in (tags or {}).items()],
        )
        data["value"] = from_json_number(data["value"])
        data["run"] = _metrics_to_float(data["run"])
        return data


class ActiveRun:
    """The run of a `with client.start_run(...)` block; logging methods need no run_id."""

    def __init__(self, client: ExperimentsAPI, data: dict[str, Any]):
        self.client = client
        self.data = data
        self.run_id: str = data["run_id"]
        self.ended = False

    def __repr__(self) -> str:
        return f"<ActiveRun {self.run_id}>"

    def end(self, status: str = "finished") -> dict[str, Any]:
        self.data = self.client.end_run(self.run_id, status)
        self.ended = True
        return self.data

    def log_metric(self, key: str, value: float, step: int = 0,
                   timestamp: int | None = None) -> dict[str, Any]:
        return self.client.log_metric(self.run_id, key, value, step, timestamp)

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0,
                    timestamp: int | None = None) -> None:
        self.client.log_metrics(self.run_id, metrics, step, timestamp)

    def log_param(self, key: str, value: Any) -> dict[str, Any]:
        return self.client.log_param(self.run_id, key, value)

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.client.log_params(self.run_id, params)

    def set_tag(self, key: str, value: Any) -> dict[str, Any]:
        return self.client.set_tag(self.run_id, key, value)

    def log_batch(self, metrics: Iterable[Mapping[str, Any]] = (),
                  params: Mapping[str, Any] | None = None,
                  tags: Mapping[str, Any] | None = None) -> None:
        self.client.log_batch(self.run_id, metrics, params, tags)

    def log_artifact(self, local_path: str, artifact_path: str | None = None) -> dict[str, Any]:
        return self.client.log_artifact(self.run_id, local_path, artifact_path)

    def register_version(self, model: str, artifact_path: str, *, framework: str,
                         artifact_format: str, **fields: Any) -> dict[str, Any]:
        return self.client.register_version(self.run_id, model, artifact_path,
                                            framework=framework,
                                            artifact_format=artifact_format, **fields)


def _param(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return to_json_number(value)
    return str(value)


def _metrics_to_float(run: dict[str, Any]) -> dict[str, Any]:
    if isinstance(run.get("metrics"), dict):
        run["metrics"] = {k: from_json_number(v) for k, v in run["metrics"].items()}
    return run


def _series_to_float(series: dict[str, Any]) -> dict[str, Any]:
    series["values"] = [from_json_number(v) for v in series["values"]]
    return series


def _default_source() -> str:
    return os.path.abspath(sys.argv[0])[-500:] if sys.argv and sys.argv[0] else ""
