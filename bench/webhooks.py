"""Webhooks benchmark: what the outbox adds to an event, and what one delivery costs.

    .venv/bin/python bench/webhooks.py [--runs 3] [--moves 60] [--deliveries 200]

1. Outbox cost: the median of `--moves` stage moves (draft -> staging, one
   model_version.stage_changed event each) through the REST API of a real gunicorn on a
   temporary SQLite database, with no webhook, then with 5 webhooks listening (5 delivery
   rows written in the move's transaction and 5 enqueues after commit; the broker is
   memory://, no worker). Target: <= 5 ms added per move.
2. One delivery attempt in process (claim, seal opened, HMAC signature, HTTP POST to a
   receiver on 127.0.0.1, outcome recorded): median over `--deliveries`. Target <= 20 ms.

Every figure is the median of --runs repetitions.
"""

from __future__ import annotations

import argparse
import io
import json
import pickle
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from harness import median, report, server, timed  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

EVENTS = [{"entity": "MODEL_VERSION", "action": "STAGE_CHANGED"}]

ATTEMPTS = """
import json, statistics, time
from webhooks_app import services
from webhooks_app.events import Event
from webhooks_app.models import Webhook, WebhookDelivery
hook = Webhook.objects.first()
rows = WebhookDelivery.objects.bulk_create([WebhookDelivery(
    webhook=hook, event=Event.MODEL_VERSION_STAGE_CHANGED.value,
    payload={{"entity": "model_version", "action": "stage_changed", "data": {{"n": n}}}})
    for n in range({count})])
times = []
for row in WebhookDelivery.objects.filter(status="pending", attempts=0).order_by("pk")[:{count}]:
    start = time.perf_counter()
    done = services.delivery_attempt(delivery_pk=row.pk)
    times.append((time.perf_counter() - start) * 1000)
    assert done.status == "delivered", (done.last_error, done.last_status_code)
print(json.dumps(times))
"""


def receiver() -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    return http, f"http://127.0.0.1:{http.server_address[1]}/hook"


def one_run(moves: int, deliveries: int) -> tuple[float, float, float]:
    http, url = receiver()
    features = np.random.default_rng(0).normal(size=(100, 4))
    payload = pickle.dumps(LogisticRegression().fit(features, features[:, 0] > 0))
    try:
        with server(extra_env={"WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32"}) as run:
            session = run.session()
            api = f"{run.base}/api/v1"
            session.post(f"{api}/models/", json={"name": "ranking", "gates": {
                "load_check": False}}).raise_for_status()

            def register() -> str:
                answer = session.post(
                    f"{api}/models/ranking/versions/",
                    files={"artifact": ("model.pkl", io.BytesIO(payload))},
                    data={"metadata": json.dumps({"framework": "sklearn",
                                                  "artifact_format": "pickle",
                                                  "bump": "minor"})})
                answer.raise_for_status()
                return answer.json()["version"]

            def stage(version: str) -> None:
                answer = session.post(f"{api}/models/ranking/versions/{version}/transition/",
                                      json={"to": "staging"})
                assert answer.status_code == 200, answer.text

            def moves_timed() -> float:
                versions = [register() for _ in range(moves)]
                return median([timed(lambda v=v: stage(v)) for v in versions])

            bare = moves_timed()
            for n in range(5):
                session.post(f"{run.base}/api/2.0/mlflow/webhooks", json={
                    "name": f"hook-{n}", "url": url, "events": EVENTS, "secret": "k"},
                ).raise_for_status()
            listened = moves_timed()
            times = json.loads(run.manage("shell", "-c", ATTEMPTS.format(count=deliveries))
                               .strip().splitlines()[-1])
            return bare, listened, median(times)
    finally:
        http.shutdown()
        http.server_close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--moves", type=int, default=60)
    parser.add_argument("--deliveries", type=int, default=200)
    args = parser.parse_args()
    print(f"webhooks benchmark: {args.moves} stage moves with 0 and 5 webhooks, "
          f"{args.deliveries} delivery attempts, x {args.runs} runs (gunicorn, SQLite)")
    results = []
    for number in range(args.runs):
        bare, listened, attempt = one_run(args.moves, args.deliveries)
        results.append((bare, listened, attempt))
        print(f"  run {number + 1}: move {bare:.2f} ms bare, {listened:.2f} ms with 5 "
              f"webhooks; delivery attempt {attempt:.2f} ms")
    bare = median([r[0] for r in results])
    listened = median([r[1] for r in results])
    print(f"stage move, no webhook: {bare:.2f} ms; with 5 webhooks: {listened:.2f} ms")
    ok = report("outbox cost per event (5 webhooks)", listened - bare, 5.0, "ms")
    ok &= report("one delivery attempt (sign, POST, record)",
                 median([r[2] for r in results]), 20.0, "ms")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
