"""A small HTTP client for the Axion registry, for training scripts and the dashboard.

Needs only `requests`: it imports neither Django nor the project, so it runs on any machine
that can reach the API.

    from axion_client import AxionClient

    client = AxionClient("http://127.0.0.1:8000", token)   # or AxionClient.from_env()
    with client.start_run("ranking-lgbm", name="lr sweep") as run:
        run.log_params({"lr": 0.1})
        run.log_metric("loss", 0.42, step=1)

Errors: AxionAPIError (an answer >= 400, with the API's code) and APIUnreachable (no answer).
"""

from __future__ import annotations

from axion_client.client import AxionClient
from axion_client.experiments import (
    MAX_BATCH_METRICS,
    MAX_BATCH_PARAMS,
    MAX_BATCH_TAGS,
    ActiveRun,
    from_json_number,
    to_json_number,
)
from axion_client.http import APIUnreachable, AxionAPIError

__all__ = [
    "MAX_BATCH_METRICS",
    "MAX_BATCH_PARAMS",
    "MAX_BATCH_TAGS",
    "ActiveRun",
    "APIUnreachable",
    "AxionAPIError",
    "AxionClient",
    "from_json_number",
    "to_json_number",
]
