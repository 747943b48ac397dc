"""The dashboard's only way to the registry: the REST API through axion_registry.client.

Reads are cached for a few seconds (st.cache_data); writes clear the cache. No Django here:
the dashboard runs anywhere that can reach the API with a token (AXION_API_URL,
AXION_API_TOKEN; `make run` sets both).

The client has helpers for experiment tracking; the registry, A/B test and serving reads
below are small functions over its generic `get`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
import streamlit as st

from axion_registry.client import AxionAPIError, AxionClient

TTL_SECONDS = int(os.environ.get("AXION_DASHBOARD_TTL", "15"))
TIMEOUT_SECONDS = float(os.environ.get("AXION_DASHBOARD_TIMEOUT", "10"))
MAX_ITEMS = 1000  # a list is read page by page up to this many items


class APIUnreachable(Exception):
    """No answer from the API (connection refused, DNS, timeout)."""


def _freeze(value: Any) -> Any:
    """Arguments as hashable, order-stable tuples (for the cache key and for requests)."""
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items() if v not in (None, "")))
    if isinstance(value, (list, tuple, set)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw_params(params: tuple) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params}


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False, max_entries=1000)
def _read(base_url: str, token: str | None, kind: str, path: str, params: tuple) -> Any:
    """One cached read. `kind`: get, list (every page) or a named client helper."""
    client = AxionClient(base_url, token, timeout=TIMEOUT_SECONDS)
    try:
        if kind == "get":
            return client.get(path, **_thaw_params(params))
        if kind == "list":
            items = []
            for item in client.paginate(path, page_size=200, **_thaw_params(params)):
                items.append(item)
                if len(items) >= MAX_ITEMS:
                    break
            return items
        helper = getattr(client, kind)
        return helper(**_thaw_params(params))
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise APIUnreachable(str(exc)) from exc


@dataclass(frozen=True)
class Registry:
    """Reads and writes of the Axion API for one base URL and token."""

    base_url: str
    token: str | None

    @classmethod
    def from_env(cls) -> Registry:
        client = AxionClient(os.environ.get("AXION_API_URL", "http://127.0.0.1:8000/api/v1"))
        return cls(client.base_url, os.environ.get("AXION_API_TOKEN") or None)

    # -- plumbing ----------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> Any:
        return _read(self.base_url, self.token, "get", path, _freeze(params))

    def list(self, path: str, **params: Any) -> list[dict[str, Any]]:
        return _read(self.base_url, self.token, "list", path, _freeze(params))

    def _helper(self, name: str, **params: Any) -> Any:
        return _read(self.base_url, self.token, name, "", _freeze(params))

    def _write(self, path: str, body: dict[str, Any]) -> Any:
        client = AxionClient(self.base_url, self.token, timeout=TIMEOUT_SECONDS)
        try:
            answer = client.post(path, body)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise APIUnreachable(str(exc)) from exc
        st.cache_data.clear()
        return answer

    def check(self) -> None:
        """One cheap authenticated read: raises APIUnreachable or AxionAPIError (401)."""
        self.get("models/", page_size=1)

    # -- registry (models_app) ---------------------------------------------------------

    def models(self) -> list[dict[str, Any]]:
        return self.list("models/")

    def versions(self, *, name: str = "", stages: Iterable[str] = (),
                 frameworks: Iterable[str] = (), tags: Iterable[str] = (),
                 metrics: Iterable[str] = ()) -> list[dict[str, Any]]:
        return self.list("versions/", name=name, stage=list(stages),
                         framework=list(frameworks), tag=list(tags), metric=list(metrics),
                         ordering="-created_at")

    def model_versions(self, model: str) -> list[dict[str, Any]]:
        return self.list(f"models/{model}/versions/")

    def version(self, model: str, version: str) -> dict[str, Any]:
        return self.get(f"models/{model}/versions/{version}/")

    def compare_versions(self, model: str, versions: Iterable[str]) -> dict[str, Any]:
        return self.get(f"models/{model}/compare/", versions=",".join(versions))

    def transitions(self, model: str) -> list[dict[str, Any]]:
        return self.get("transitions/", model=model, page_size=100)["results"]

    def transition(self, model: str, version: str, to: str, reason: str) -> dict[str, Any]:
        return self._write(f"models/{model}/versions/{version}/transition/",
                           {"to": to, "reason": reason})

    def rollback(self, model: str, reason: str) -> dict[str, Any]:
        return self._write(f"models/{model}/rollback/", {"reason": reason})

    def me(self) -> dict[str, Any]:
        """The token's user and roles (release_manager, publisher, owned_models)."""
        return self.get("me/")

    def promotion_requests(self, model: str, status: str = "pending") -> list[dict[str, Any]]:
        return self.get("promotion-requests/", model=model, status=status,
                        page_size=100)["results"]

    def request_promotion(self, model: str, version: str, reason: str) -> dict[str, Any]:
        return self._write(f"models/{model}/versions/{version}/promotion-requests/",
                           {"reason": reason})

    def decide_promotion(self, request_id: int, decision: str, reason: str) -> dict[str, Any]:
        """`decision`: approve or refuse (a refusal needs a reason)."""
        return self._write(f"promotion-requests/{request_id}/{decision}/", {"reason": reason})

    # -- experiments (experiments_app, through the client's helpers) -------------------

    def experiments(self) -> list[dict[str, Any]]:
        return self.list("experiments/")

    def runs(self, experiment_id: int) -> list[dict[str, Any]]:
        return self._helper("search_runs", experiment=experiment_id, max_results=MAX_ITEMS)

    def compare_runs(self, run_ids: Iterable[str]) -> dict[str, Any]:
        return self._helper("compare_runs", run_ids=list(run_ids))

    def metric_histories(self, run_ids: Iterable[str], key: str,
                         max_points: int = 400) -> list[dict[str, Any]]:
        return self._helper("metric_histories", run_ids=list(run_ids), key=key,
                            max_points=max_points)

    def best_run(self, experiment_id: int, metric: str, direction: str) -> dict[str, Any]:
        return self._helper("best_run", experiment_id=experiment_id, metric=metric,
                            direction=direction)

    # -- A/B tests (abtest_app) --------------------------------------------------------

    def abtests(self) -> list[dict[str, Any]]:
        return self.list("abtests/", ordering="-created_at")

    def abtest_results(self, test_id: int) -> dict[str, Any]:
        return self.get(f"abtests/{test_id}/results/")

    # -- serving (serving_app) ---------------------------------------------------------

    def serving_status(self, model: str) -> dict[str, Any]:
        return self.get(f"serve/{model}/status/")

    def latency(self, model: str, minutes: int) -> list[dict[str, Any]]:
        return self.get(f"serve/{model}/latency/", minutes=minutes)

    def deployments(self, kinds: Iterable[str] = ()) -> list[dict[str, Any]]:
        return self.get("deployments/", kind=list(kinds), page_size=100)["results"]


def describe_error(exc: BaseException, base_url: str) -> str:
    """A sentence a person can act on, for an error from the API or the network."""
    if isinstance(exc, APIUnreachable):
        return (f"Cannot reach the Axion API at {base_url}. Is the server running "
                "(`make run`)? Check AXION_API_URL.")
    if isinstance(exc, AxionAPIError):
        if exc.status == 401:
            return ("The API refused the token (401 Unauthorized). Set AXION_API_TOKEN to a "
                    "valid token (`make run` prints one).")
        if exc.status == 403:
            return f"Not allowed (403): {exc.message}"
        return f"The API answered {exc.status} ({exc.code}): {exc.message}"
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def guarded(api: Registry) -> Iterator[None]:
    """A section of a page: an API error shows as a message there, and the rest goes on."""
    try:
        yield
    except (APIUnreachable, AxionAPIError) as exc:
        st.error(describe_error(exc, api.base_url))
