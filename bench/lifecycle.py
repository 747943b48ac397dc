"""Lifecycle benchmark: 200 promote-and-rollback cycles through the REST API.
Target (this 2-core machine): <= 10 ms median per promotion (gates, artifact sha256
check, archive of the previous version, audit rows, announcement).

    .venv/bin/python bench/lifecycle.py [--runs 3] [--cycles 200]
"""

from __future__ import annotations

import argparse
import io
import json
import pickle
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from harness import median, percentile, report, server, timed  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402


def one_run(cycles: int) -> tuple[list[float], list[float]]:
    features = np.random.default_rng(0).normal(size=(100, 4))
    payload = pickle.dumps(LogisticRegression().fit(features, features[:, 0] > 0))
    with server() as run:
        session = run.session()
        api = f"{run.base}/api/v1"
        session.post(f"{api}/models/", json={"name": "ranking", "gates": {
            "required_metrics": ["auc"],
            "thresholds": [{"metric": "auc", "op": ">=", "value": 0.6}],
            "load_check": False}}).raise_for_status()  # no worker here: promotion alone

        def register_and_stage() -> str:
            response = session.post(
                f"{api}/models/ranking/versions/",
                files={"artifact": ("model.pkl", io.BytesIO(payload))},
                data={"metadata": json.dumps({"framework": "sklearn", "artifact_format": "pickle",
                                              "bump": "minor", "metrics": {"auc": 0.7}})})
            response.raise_for_status()
            version = response.json()["version"]
            session.post(f"{api}/models/ranking/versions/{version}/transition/",
                         json={"to": "staging"}).raise_for_status()
            return version

        def promote(version: str) -> None:
            response = session.post(f"{api}/models/ranking/versions/{version}/transition/",
                                    json={"to": "production", "reason": "bench"})
            assert response.status_code == 200, response.text

        def rollback() -> None:
            response = session.post(f"{api}/models/ranking/rollback/", json={"reason": "bench"})
            assert response.status_code == 200, response.text

        promote(register_and_stage())
        promotions, rollbacks = [], []
        for _ in range(cycles):
            version = register_and_stage()
            promotions.append(timed(lambda version=version: promote(version)))
            rollbacks.append(timed(rollback))
        audit = session.get(f"{api}/transitions/?model=ranking&page_size=1").json()["count"]
        expected = 2 + cycles * 5  # submit, promote, archive + rollback, archive per cycle
        assert audit == expected, (audit, expected)
        return promotions, rollbacks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=200)
    args = parser.parse_args()
    print(f"lifecycle benchmark: {args.cycles} promote+rollback cycles x {args.runs} runs "
          "(gunicorn gthread 2x4, SQLite)")
    promotion_medians, rollback_medians = [], []
    for number in range(args.runs):
        promotions, rollbacks = one_run(args.cycles)
        promotion_medians.append(median(promotions))
        rollback_medians.append(median(rollbacks))
        print(f"  run {number + 1}: promotion median {median(promotions):.2f} ms "
              f"(p95 {percentile(promotions, 95):.2f}); rollback median {median(rollbacks):.2f} ms"
              f" (p95 {percentile(rollbacks, 95):.2f})")
    report("promotion through the API, median of run medians", median(promotion_medians), 10.0,
           "ms", reference=("MLflow 3.17 transition_model_version_stage (1 worker)", 21.0))
    report("rollback through the API, median of run medians", median(rollback_medians), 10.0,
           "ms")


if __name__ == "__main__":
    main()
