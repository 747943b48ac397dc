"""A model's load checks (did each version load and predict in a fresh worker process, how
fast, how big) and its verified metrics beside the reported ones. No Django here."""

from __future__ import annotations

from typing import Any

import pandas as pd

from dashboard import charts
from models_app.vocabulary import LoadCheckStatus


def checks_frame(versions: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for v in sorted(versions, key=lambda v: v["created_at"], reverse=True):
        check = v.get("load_check") or {}
        status = v.get("load_check_status") or LoadCheckStatus.PENDING
        rows.append({
            "version": v["version"], "stage": v["stage"],
            "load check": str(status),
            "load ms": check.get("load_ms"), "predict ms": check.get("predict_ms"),
            "memory MB": check.get("rss_mb"), "input": v.get("serving_input") or "",
            "output": " x ".join(map(str, check.get("output_shape") or [])),
            "packages": ", ".join(check.get("packages") or []),
            "problem": " ".join(filter(None, [check.get("error"), check.get("hint")])),
        })
    return charts.as_numbers(pd.DataFrame(rows), "load ms", "predict ms", "memory MB")


def metrics_frame(versions: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per metric and version: what the upload reported, what the registry verified."""
    rows = []
    for v in sorted(versions, key=lambda v: v["created_at"], reverse=True):
        reported, verified = v.get("metrics") or {}, v.get("verified_metrics") or {}
        for metric in sorted(set(reported) | set(verified)):
            rows.append({"version": v["version"], "metric": metric,
                         "reported": reported.get(metric), "verified": verified.get(metric)})
    frame = pd.DataFrame(rows, columns=["version", "metric", "reported", "verified"])
    return charts.as_numbers(frame, "reported", "verified")  # not yet verified: NaN
