"""A fake Axion API at the HTTP boundary (the `responses` library), with answers shaped like
the real ones, and a record of every request the dashboard made."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

BASE = "http://axion.test/api/v1"
TOKEN = "test-token"

Answer = tuple[int, Any]


@dataclass(frozen=True)
class Reply:
    """An answer with a status other than 200 (or the answer of a POST)."""

    status: int
    payload: Any


def page(results: list[dict]) -> dict:
    return {"count": len(results), "next": None, "previous": None, "results": results}


LOAD_CHECK = {"status": "passed", "load_ms": 412.5, "predict_ms": 3.25, "rows": 3,
              "output_shape": [3, 7], "rss_mb": 254.0, "packages": ["lightgbm==4.7.0"]}
FAILED_CHECK = {"status": "failed", "error": "ModuleNotFoundError: No module named 'src'",
                "hint": "add the folder that holds src/ to PLATFORM_MODEL_PATHS"}


def _version(model: str, version: str, stage: str, metrics: dict, params: dict,
             created: str, *, check: dict | None = None, verified: dict | None = None) -> dict:
    check = LOAD_CHECK if check is None else check
    return {
        "serving_input": "dataframe", "load_check_status": check["status"],
        "load_check": check, "verified_metrics": verified or {},
        "model": model, "version": version, "stage": stage, "framework": "sklearn",
        "artifact_format": "pickle", "metrics": metrics, "hyperparameters": params,
        "tags": {"team": "quant"}, "description": "", "signature": {}, "input_example": None,
        "artifact_path": f"{model}/{version}/model.pkl", "artifact_sha256": "0" * 64,
        "artifact_size": 1000, "source_run_id": "", "created_by": "rita",
        "created_at": created,
    }


VERSIONS = [
    _version("stock-ranking", "1.1.0", "staging", {"auc": 0.6798, "log_loss": 1.4306},
             {"learning_rate": 0.1, "max_depth": 3}, "2026-11-27T10:02:00Z",
             check=FAILED_CHECK),
    _version("stock-ranking", "1.0.0", "production", {"auc": 0.6611, "log_loss": 1.4771},
             {"learning_rate": 0.2, "max_depth": 3}, "2026-11-27T10:01:00Z",
             verified={"auc": 0.6502, "accuracy": 0.31}),
    _version("market-regime", "1.1.0", "production", {"accuracy": 0.904},
             {"learning_rate": 0.05}, "2026-11-27T10:04:00Z"),
    _version("market-regime", "1.0.0", "archived", {"accuracy": 0.8507},
             {"learning_rate": 0.3}, "2026-11-27T10:03:00Z"),
]
RUN_A = "a" * 32
RUN_B = "b" * 32
TEST_ID = 7


def default_routes() -> dict[str, Any]:
    """path (after /api/v1/) -> payload, or a callable(request) -> (status, payload)."""
    return {
        "models/": page([
            {"name": "stock-ranking", "description": "Ranks stocks.", "owner": "rita",
             "tags": {}, "metric_directions": {"log_loss": "lower"}, "gates": {},
             "production_version": "1.0.0", "latest_version": "1.1.0",
             "created_at": "2026-11-27T10:00:00Z", "updated_at": "2026-11-27T10:00:00Z"},
            {"name": "market-regime", "description": "Bull, bear, sideways, crisis.",
             "owner": "rita", "tags": {}, "metric_directions": {}, "gates": {},
             "production_version": "1.1.0", "latest_version": "1.1.0",
             "created_at": "2026-11-27T10:00:00Z", "updated_at": "2026-11-27T10:00:00Z"},
        ]),
        "versions/": filter_versions,
        "models/stock-ranking/versions/": page(VERSIONS[:2]),
        "models/market-regime/versions/": page(VERSIONS[2:]),
        "models/stock-ranking/versions/1.1.0/": {
            **VERSIONS[0], "available_transitions": ["deprecated", "draft", "production"],
            "rollback_to": None},
        "models/stock-ranking/versions/1.0.0/": {
            **VERSIONS[1], "available_transitions": ["archived"], "rollback_to": None},
        "models/market-regime/versions/1.1.0/": {
            **VERSIONS[2], "available_transitions": ["archived"], "rollback_to": "1.0.0"},
        "models/market-regime/versions/1.0.0/": {
            **VERSIONS[3], "available_transitions": ["deprecated", "production"],
            "rollback_to": None},
        "models/stock-ranking/versions/1.1.0/gates/": gates(passed=True),
        "models/stock-ranking/versions/1.0.0/gates/": gates(passed=True),
        "models/market-regime/versions/1.1.0/gates/": gates(passed=True),
        "models/market-regime/versions/1.0.0/gates/": gates(passed=True),
        "models/stock-ranking/compare/": {
            "versions": ["1.0.0", "1.1.0"],
            "metrics": {
                "auc": {"values": {"1.0.0": 0.6611, "1.1.0": 0.6798}, "direction": "higher",
                        "best": "1.1.0"},
                "log_loss": {"values": {"1.0.0": 1.4771, "1.1.0": 1.4306},
                             "direction": "lower", "best": "1.1.0"},
            },
            "hyperparameters": {
                "learning_rate": {"values": {"1.0.0": 0.2, "1.1.0": 0.1}, "differs": True},
                "max_depth": {"values": {"1.0.0": 3, "1.1.0": 3}, "differs": False},
            },
        },
        "models/market-regime/compare/": {
            "versions": ["1.0.0", "1.1.0"],
            "metrics": {"accuracy": {"values": {"1.0.0": 0.8507, "1.1.0": 0.904},
                                     "direction": "higher", "best": "1.1.0"}},
            "hyperparameters": {},
        },
        "models/stock-ranking/aliases/": [
            {"model": "stock-ranking", "alias": "champion", "version": "1.0.0", "sequence": 1,
             "stage": "production", "set_by": "max_release", "set_at": "2026-11-27T10:06:00Z"},
            {"model": "stock-ranking", "alias": "challenger", "version": "1.1.0",
             "sequence": 2, "stage": "staging", "set_by": "max_release",
             "set_at": "2026-11-27T10:07:00Z"},
        ],
        "models/market-regime/aliases/": [],
        "me/": {"username": "max_release", "release_manager": True, "publisher": True,
                 "superuser": False, "owned_models": []},
        "promotion-requests/": page([]),
        "transitions/": page([
            {"id": 2, "model": "stock-ranking", "version": "1.0.0", "kind": "promote",
             "from_stage": "staging", "to_stage": "production", "actor": "max_release",
             "reason": "first production model", "source": "", "gate_report": [],
             "created_at": "2026-11-27T10:05:00Z"},
            {"id": 1, "model": "stock-ranking", "version": "1.0.0", "kind": "submit",
             "from_stage": "draft", "to_stage": "staging", "actor": "rita",
             "reason": "validated offline", "source": "", "gate_report": [],
             "created_at": "2026-11-27T10:04:00Z"},
        ]),
        "experiments/": page([
            {"id": 3, "name": "ranking-sweep", "description": "", "tags": {},
             "archived": False, "created_at": "2026-11-27T09:00:00Z", "run_count": 2},
        ]),
        "runs/": page([
            {"run_id": RUN_A, "experiment_id": 3, "experiment": "ranking-sweep",
             "name": "lr=0.1", "status": "finished", "start_time": "2026-11-27T09:01:00Z",
             "end_time": "2026-11-27T09:02:00Z", "parent_run_id": None, "source": "",
             "user": "rita", "tags": {}, "params": {"lr": "0.1", "depth": "3"},
             "metrics": {"auc": 0.71, "val_loss": 0.52}},
            {"run_id": RUN_B, "experiment_id": 3, "experiment": "ranking-sweep",
             "name": "lr=0.3", "status": "finished", "start_time": "2026-11-27T09:03:00Z",
             "end_time": "2026-11-27T09:04:00Z", "parent_run_id": None, "source": "",
             "user": "rita", "tags": {}, "params": {"lr": "0.3", "depth": "3"},
             "metrics": {"auc": 0.68, "val_loss": "NaN"}},
        ]),
        "runs/compare/": {
            "run_ids": [RUN_A, RUN_B],
            "runs": {},
            "params": {
                "depth": {"values": {RUN_A: "3", RUN_B: "3"}, "differs": False},
                "lr": {"values": {RUN_A: "0.1", RUN_B: "0.3"}, "differs": True},
            },
            "metrics": {"auc": {"values": {RUN_A: 0.71, RUN_B: 0.68}}},
            "differing_params": ["lr"],
        },
        "metrics/history/": {
            "key": "val_loss", "max_points": 400,
            "series": [
                {"run_id": RUN_A, "key": "val_loss", "total_points": 1000,
                 "returned_points": 3, "steps": [0, 500, 999], "timestamps": [1, 2, 3],
                 "values": [0.9, 0.6, 0.52]},
                {"run_id": RUN_B, "key": "val_loss", "total_points": 3,
                 "returned_points": 3, "steps": [0, 1, 2], "timestamps": [1, 2, 3],
                 "values": [0.9, "NaN", 0.7]},
            ],
        },
        "experiments/3/best-run/": lambda request: (200, {
            "metric": _query(request)["metric"], "direction": _query(request)["direction"],
            "value": 0.71, "candidates": 2,
            "run": default_routes()["runs/"]["results"][0],
        }),
        "abtests/": page([ABTEST]),
        f"abtests/{TEST_ID}/results/": {
            "test": ABTEST, "source": "computed", "evaluation": EVALUATION,
            "arms": {"primary": {
                "champion": {"n": 1210, "mean": 42.5, "sd": 25.1, "total": 1.0, "total_sq": 1.0},
                "challenger": {"n": 1190, "mean": 44.25, "sd": 24.9, "total": 1.0,
                               "total_sq": 1.0},
            }},
            "history": [
                {**EVALUATION, "id": 1, "created_at": "2026-11-27T10:00:00Z", "kind": "scheduled",
                 "concluded": False, "sequential_p": 0.8, "p_value": 0.3},
                {**EVALUATION, "id": 2, "created_at": "2026-11-27T10:10:00Z", "kind": "scheduled",
                 "concluded": False},
            ],
        },
        "serve/stock-ranking/status/": serving_status("stock-ranking", "1.0.0", None),
        "serve/market-regime/status/": serving_status("market-regime", "1.1.0", "1.0.0"),
        "serve/stock-ranking/latency/": [
            latency("2026-11-27T10:00:00Z", "1.0.0", 100, 0, 0, 2.5, 9.0, 15.0),
            latency("2026-11-27T10:01:00Z", "1.0.0", 300, 3, 6, 2.7, 11.5, 30.2),
        ],
        "serve/market-regime/latency/": [],
        "deployments/": page([
            {"id": 9, "model": "market-regime", "version": "1.0.0", "kind": "rollback",
             "previous_version": "1.1.0", "source": "guardrail", "reason": "error rate 35%",
             "warmup_status": "ok", "load_ms": 3.0, "predict_ms": 1.0, "error": "",
             "rolled_back": False, "minute": None, "count": 0, "served_by": None,
             "created_at": "2026-11-27T10:20:00Z", "updated_at": "2026-11-27T10:20:00Z"},
        ]),
    }


ABTEST = {
    "id": TEST_ID, "name": "ranking 1.1.0 vs 1.0.0", "description": "", "model": "stock-ranking",
    "champion": "1.0.0", "challenger": "1.1.0", "champion_id": 1, "challenger_id": 2,
    "challenger_share": 50.0, "assignment_unit": "portfolio", "seed": "abc",
    "metric_name": "forward_return_bps", "metric_type": "continuous",
    "metric_direction": "higher", "guardrails": [], "method": "sequential", "alpha": 0.05,
    "min_samples_per_arm": 500, "planned_samples_per_arm": 4000, "min_effect": 0.0,
    "min_effect_kind": "absolute", "max_duration": "30 00:00:00", "auto_promote": False,
    "state": "running", "created_by": "rita", "created_at": "2026-11-27T09:00:00Z",
    "started_at": "2026-11-27T09:00:00Z", "ended_at": None, "run_seconds": 3600.0,
    "decision": "", "conclusion_reason": "", "ended_by": None, "srm_flagged": False,
    "promotion_status": "", "promotion_message": "", "promotion_details": {},
    "available_actions": ["cancel", "conclude", "pause"],
}
EVALUATION = {
    "decision": "no_decision", "reasons": ["not significant yet"], "method": "sequential",
    "champion_n": 1210, "challenger_n": 1190, "champion_mean": 42.5, "challenger_mean": 44.25,
    "effect": 1.75, "p_value": 0.0123, "ci_low": -0.5, "ci_high": 4.0,
    "relative_lift": 0.0412, "relative_ci_low": -0.01, "relative_ci_high": 0.09,
    "relative_lift_reason": "", "sequential_p": 0.2345, "srm_p": 0.6831,
    "srm_mismatch": False, "guardrails": [], "max_duration_reached": False,
    "created_at": "2026-11-27T10:15:00+00:00",
}


def gates(*, passed: bool) -> dict:
    """A gate report as GET .../gates/ answers it; when not passed, the auc threshold fails."""
    return {"passed": passed, "gates": [
        {"gate": "require_staging", "passed": True, "wanted": "from staging", "got": "staging"},
        {"gate": "verify_artifact", "passed": True, "wanted": "sha256 matches",
         "got": "matches"},
        {"gate": "threshold:auc", "passed": passed, "wanted": "auc >= 0.7",
         "got": "auc = 0.72" if passed else "auc = 0.68"},
    ]}


def serving_status(model: str, production: str, fallback: str | None) -> dict:
    return {
        "model": model, "production_version": production, "fallback_version": fallback,
        "warmup": {"id": 1, "model": model, "version": production, "kind": "promote",
                   "previous_version": fallback, "source": "", "reason": "",
                   "warmup_status": "ok", "load_ms": 12.5, "predict_ms": 3.25, "error": "",
                   "rolled_back": False, "minute": None, "count": 0, "served_by": None,
                   "created_at": "2026-11-27T10:05:00Z", "updated_at": "2026-11-27T10:05:01Z"},
        "policy": {"timeout_ms": None, "guardrail": {}},
        "this_process": {},
    }


def latency(minute: str, version: str, count: int, errors: int, fallbacks: int, p50: float,
            p95: float, p99: float) -> dict:
    return {"minute": minute, "version": version, "count": count, "errors": errors,
            "fallbacks": fallbacks, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
            "last_error": "ValueError: boom" if errors else ""}


def _query(request) -> dict[str, Any]:
    parsed = parse_qs(urlsplit(request.url).query)
    return {k: v if len(v) > 1 else v[0] for k, v in parsed.items()}


def filter_versions(request) -> Answer:
    """versions/ with the name, stage and framework filters applied, as the API does."""
    query = parse_qs(urlsplit(request.url).query)
    found = [
        v for v in VERSIONS
        if query.get("name", [""])[0] in v["model"]
        and (not query.get("stage") or v["stage"] in query["stage"])
        and (not query.get("framework") or v["framework"] in query["framework"])
    ]
    if any(not re.match(r"^\w+(>=|<=|>|<|=)[\d.]+$", m) for m in query.get("metric", [])):
        return 400, {"code": "invalid", "message": "write it like auc>=0.7."}
    return 200, page(found)


class FakeAPI:
    """Answers every request to BASE from `routes`; records (method, path, query, body)."""

    def __init__(self, mock: responses.RequestsMock):
        self.routes = default_routes()
        self.posts: dict[str, Callable[[Any], Answer] | Reply] = {}
        self.patches: dict[str, Callable[[Any], Answer] | Reply] = {}
        self.calls: list[tuple[str, str, dict, Any]] = []
        pattern = re.compile(re.escape(BASE) + r"/.*")
        for method in (responses.GET, responses.POST, responses.PATCH):
            mock.add_callback(method, pattern, callback=self._answer)

    def patch(self, path: str, into: list) -> None:
        """Answer PATCH `path` with the GET answer updated by the body; bodies go to `into`."""
        def answer(request) -> Answer:
            body = json.loads(request.body)
            into.append(body)
            return 200, {**self.routes[path], **body}

        self.patches[path] = answer

    def requests(self, method: str, path: str) -> list[tuple[dict, Any]]:
        return [(q, body) for m, p, q, body in self.calls if m == method and p == path]

    def _answer(self, request) -> tuple[int, dict, str]:
        path = urlsplit(request.url).path.removeprefix(urlsplit(BASE).path + "/")
        body = json.loads(request.body) if request.body else None
        self.calls.append((request.method, path, _query(request), body))
        if request.headers.get("Authorization") != f"Token {TOKEN}":
            return _json(401, {"code": "not_authenticated", "message": "Invalid token."})
        table = {"GET": self.routes, "PATCH": self.patches}.get(request.method, self.posts)
        if path not in table:
            return _json(404, {"code": "not_found", "message": f"No route {path} in the fake."})
        answer = table[path]
        if callable(answer):
            status, payload = answer(request)
        elif isinstance(answer, Reply):
            status, payload = answer.status, answer.payload
        else:
            status, payload = 200, answer
        return _json(status, payload)


def _json(status: int, payload: Any) -> tuple[int, dict, str]:
    return status, {"Content-Type": "application/json"}, json.dumps(payload)
