"""The dashboard's only way to the registry: the REST API through axion_client.

Reads are cached for a few seconds (st.cache_data); writes clear the cache. No Django here:
the dashboard runs anywhere that can reach the API with a token (AXION_API_URL,
AXION_API_TOKEN; `make run` sets both). Every URL is the client's: this module names the
client method to call, caches its answer and explains its errors.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import streamlit as st

from axion_client import APIUnreachable, AxionAPIError, AxionClient

TTL_SECONDS = int(os.environ.get("AXION_DASHBOARD_TTL", "15"))
TIMEOUT_SECONDS = float(os.environ.get("AXION_DASHBOARD_TIMEOUT", "10"))
MAX_ITEMS = 1000  # a list is read page by page up to this many items
PAGE_SIZE = 200
SHORT_LIST = 100  # the audit trail, promotion requests and deployments: the newest page


def _freeze(value: Any) -> Any:
    """Arguments as hashable, order-stable tuples (the cache key); None and "" dropped."""
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items() if v not in (None, "")))
    if isinstance(value, list | tuple | set):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(params: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params}


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False, max_entries=1000)
def _read(base_url: str, token: str | None, method: str,
          params: tuple[tuple[str, Any], ...]) -> Any:
    """One cached read: the answer of the client's `method` called with `params`."""
    client = AxionClient(base_url, token, timeout=TIMEOUT_SECONDS)
    return getattr(client, method)(**_thaw(params))


@dataclass(frozen=True)
class Registry:
    """Reads and writes of the Axion API for one base URL and token."""

    base_url: str
    token: str | None

    @classmethod
    def from_env(cls) -> Registry:
        client = AxionClient.from_env()
        return cls(client.base_url, client.token)

    # -- plumbing ----------------------------------------------------------------------

    def _read(self, method: str, **params: Any) -> Any:
        return _read(self.base_url, self.token, method, _freeze(params))

    def _write(self, method: str, *args: Any, **kwargs: Any) -> Any:
        client = AxionClient(self.base_url, self.token, timeout=TIMEOUT_SECONDS)
        answer = getattr(client, method)(*args, **kwargs)
        st.cache_data.clear()
        return answer

    def check(self) -> None:
        """One cheap authenticated read: raises APIUnreachable or AxionAPIError (401)."""
        self._read("list_models", page_size=1, max_results=1)

    # -- registry (models_app) ---------------------------------------------------------

    def models(self) -> list[dict[str, Any]]:
        return self._read("list_models", page_size=PAGE_SIZE, max_results=MAX_ITEMS)

    def versions(self, *, name: str = "", stages: Iterable[str] = (),
                 frameworks: Iterable[str] = (), tags: Iterable[str] = (),
                 metrics: Iterable[str] = ()) -> list[dict[str, Any]]:
        return self._read("list_versions", name=name, stages=list(stages),
                          frameworks=list(frameworks), tags=list(tags), metrics=list(metrics),
                          ordering="-created_at", page_size=PAGE_SIZE, max_results=MAX_ITEMS)

    def model_versions(self, model: str) -> list[dict[str, Any]]:
        return self._read("list_model_versions", model=model, page_size=PAGE_SIZE,
                          max_results=MAX_ITEMS)

    def version(self, model: str, version: str) -> dict[str, Any]:
        return self._read("get_version", model=model, version=version)

    def compare_versions(self, model: str, versions: Iterable[str]) -> dict[str, Any]:
        return self._read("compare_versions", model=model, versions=list(versions))

    def transitions(self, model: str) -> list[dict[str, Any]]:
        return self._read("list_transitions", model=model, page_size=SHORT_LIST,
                          max_results=SHORT_LIST)

    def aliases(self, model: str) -> list[dict[str, Any]]:
        return self._read("list_aliases", model=model)

    def transition(self, model: str, version: str, to: str, reason: str) -> dict[str, Any]:
        return self._write("transition_version", model, version, to, reason)

    def rollback(self, model: str, reason: str) -> dict[str, Any]:
        return self._write("rollback_model", model, reason)

    def me(self) -> dict[str, Any]:
        """The token's user and roles (release_manager, publisher, owned_models)."""
        return self._read("current_user")

    def promotion_requests(self, model: str, status: str = "pending") -> list[dict[str, Any]]:
        return self._read("list_promotion_requests", model=model, status=status,
                          page_size=SHORT_LIST, max_results=SHORT_LIST)

    def request_promotion(self, model: str, version: str, reason: str) -> dict[str, Any]:
        return self._write("request_promotion", model, version, reason)

    def approve_promotion(self, request_id: int, reason: str) -> dict[str, Any]:
        return self._write("approve_promotion", request_id, reason)

    def refuse_promotion(self, request_id: int, reason: str) -> dict[str, Any]:
        """A refusal needs a reason (the API says so when it is missing)."""
        return self._write("refuse_promotion", request_id, reason)

    # -- experiments (experiments_app) -------------------------------------------------

    def experiments(self) -> list[dict[str, Any]]:
        return self._read("list_experiments", page_size=PAGE_SIZE, max_results=MAX_ITEMS)

    def runs(self, experiment_id: int) -> list[dict[str, Any]]:
        return self._read("search_runs", experiment=experiment_id, max_results=MAX_ITEMS)

    def compare_runs(self, run_ids: Iterable[str]) -> dict[str, Any]:
        return self._read("compare_runs", run_ids=list(run_ids))

    def metric_histories(self, run_ids: Iterable[str], key: str,
                         max_points: int = 400) -> list[dict[str, Any]]:
        return self._read("metric_histories", run_ids=list(run_ids), key=key,
                          max_points=max_points)

    def best_run(self, experiment_id: int, metric: str, direction: str) -> dict[str, Any]:
        return self._read("best_run", experiment_id=experiment_id, metric=metric,
                          direction=direction)

    # -- A/B tests (abtest_app) --------------------------------------------------------

    def abtests(self) -> list[dict[str, Any]]:
        return self._read("list_abtests", ordering="-created_at", page_size=PAGE_SIZE,
                          max_results=MAX_ITEMS)

    def abtest_results(self, test_id: int) -> dict[str, Any]:
        return self._read("get_abtest_results", test_id=test_id)

    # -- serving (serving_app) ---------------------------------------------------------

    def serving_status(self, model: str) -> dict[str, Any]:
        return self._read("get_serving_status", model=model)

    def latency(self, model: str, minutes: int) -> list[dict[str, Any]]:
        return self._read("get_latency", model=model, minutes=minutes)

    def deployments(self, kinds: Iterable[str] = ()) -> list[dict[str, Any]]:
        return self._read("list_deployments", kinds=list(kinds), page_size=SHORT_LIST,
                          max_results=SHORT_LIST)

    # -- pages: one run, version, A/B test, experiment (dashboard/pages_/) -------------

    def experiment(self, experiment_id: int) -> dict[str, Any]:
        return self._read("get_experiment", experiment_id=experiment_id)

    def runs_of(self, experiment_ids: Iterable[int]) -> list[dict[str, Any]]:
        """The runs of several experiments, one list (each run names its experiment)."""
        return [run for eid in experiment_ids for run in self.runs(eid)]

    def run(self, run_id: str) -> dict[str, Any]:
        """A run with params, latest metrics, child runs and the versions it produced."""
        return self._read("get_run", run_id=run_id)

    def run_artifacts(self, run_id: str, path: str = "") -> list[dict[str, Any]]:
        return self._read("list_artifacts", run_id=run_id, path=path)

    def open_run_artifact(self, run_id: str, path: str) -> Any:
        """Not cached: a stream from the API, read once by a download button."""
        client = AxionClient(self.base_url, self.token, timeout=TIMEOUT_SECONDS)
        return client.open_artifact(run_id, path)

    def open_version_artifact(self, model: str, version: str) -> Any:
        client = AxionClient(self.base_url, self.token, timeout=TIMEOUT_SECONDS)
        return client.open_version_artifact(model, version)

    def version_by_sequence(self, model: str, sequence: int) -> dict[str, Any] | None:
        found = self._read("list_model_versions", model=model, sequence=sequence,
                           max_results=1)
        return found[0] if found else None

    def update_version(self, model: str, version: str, *, description: str,
                       tags: Mapping[str, str]) -> dict[str, Any]:
        return self._write("update_version", model, version, description=description,
                           tags=dict(tags))

    def update_experiment(self, experiment_id: int, *, description: str,
                          tags: Mapping[str, str]) -> dict[str, Any]:
        return self._write("update_experiment", experiment_id, description=description,
                           tags=dict(tags))

    def set_run_tags(self, run_id: str, tags: Mapping[str, str]) -> dict[str, Any]:
        return self._write("set_tags", run_id, dict(tags))

    def delete_run_tag(self, run_id: str, key: str) -> dict[str, Any]:
        return self._write("delete_tag", run_id, key)

    def register_from_run(self, run_id: str, model: str, artifact_path: str, *,
                          framework: str, artifact_format: str,
                          **fields: Any) -> dict[str, Any]:
        return self._write("register_version", run_id, model, artifact_path,
                           framework=framework, artifact_format=artifact_format, **fields)


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


# -- additions for the Model Registry tab (kept together) ------------------------------------

def version_gates(api: Registry, model: str, version: str) -> dict[str, Any]:
    """The gate report the version would get if promoted now: {"passed", "gates": [{gate,
    passed, wanted, got}]}."""
    return api._read("get_version_gates", model=model, version=version)
