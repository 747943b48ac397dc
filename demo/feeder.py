"""Keep the demo alive: a few predictions a second and simulated A/B outcomes, over HTTP.

    python -m demo.feeder [--rate 4] [--seconds 7200]

Reads AXION_API_URL and AXION_API_TOKEN (as `make run` sets them). It only ever talks to a
server on this machine (loopback), at a bounded rate, and stops by itself after --seconds.
Predictions for stock-ranking carry a unit id, so they are routed to an arm of its running
A/B test; each answered unit then gets a simulated outcome, posted in batches.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import sys
import time
from urllib.parse import urlsplit

import numpy as np
import requests

from axion_client import AxionAPIError, AxionClient
from demo import synthetic

MODELS = list(synthetic.GENERATORS)
ABTEST_MODEL = "stock-ranking"
MAX_RATE = 20.0


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Feeder:
    def __init__(self, client: AxionClient, *, rate: float, seconds: float, seed: int = 0):
        self.client = client
        self.interval = 1.0 / min(max(rate, 0.1), MAX_RATE)
        self.deadline = time.monotonic() + seconds
        self.rng = np.random.default_rng(seed)
        self.pending: list[dict] = []
        self.test_id: int | None = None
        self.test_checked = 0.0
        self.unit = int(time.time())
        self.sent = self.failed = 0
        self.stopping = False

    def running_test(self) -> int | None:
        """The running A/B test of the ranking model, looked up at most every 30 s."""
        if time.monotonic() - self.test_checked > 30:
            self.test_checked = time.monotonic()
            page = self.client.get("abtests/", model=ABTEST_MODEL, state="running")
            self.test_id = page["results"][0]["id"] if page["results"] else None
        return self.test_id

    def predict_once(self, model: str) -> None:
        rows = synthetic.example_records(model, int(self.rng.integers(1, 6)), self.rng)
        body: dict = {"records": rows}
        if model == ABTEST_MODEL:
            self.unit += 1
            body["unit_id"] = f"portfolio-live-{self.unit}"
        answer = self.client.post(f"serve/{model}/predict/", body)
        if answer.get("arm") and self.test_id is not None:
            arm = answer["arm"]
            self.pending.append({
                "unit_id": body["unit_id"], "outcome_id": body["unit_id"],
                "value": synthetic.abtest_outcome(arm, self.rng),
            })

    def flush_outcomes(self) -> None:
        if self.pending and self.test_id is not None:
            batch, self.pending = self.pending, []
            try:
                self.client.post(f"abtests/{self.test_id}/outcomes/", {"outcomes": batch})
            except AxionAPIError as exc:
                if exc.status == 409:  # the test ended (concluded or paused by someone)
                    self.test_checked = 0.0
                else:
                    raise

    def run(self) -> None:
        next_flush = time.monotonic() + 5
        tick = 0
        while not self.stopping and time.monotonic() < self.deadline:
            started = time.monotonic()
            try:
                self.running_test()
                self.predict_once(MODELS[tick % len(MODELS)])
                self.sent += 1
                if started >= next_flush:
                    self.flush_outcomes()
                    next_flush = started + 5
            except (AxionAPIError, requests.RequestException) as exc:
                self.failed += 1
                if self.failed % 20 == 1:
                    print(f"[feeder] {exc}", flush=True)
            tick += 1
            time.sleep(max(0.0, self.interval - (time.monotonic() - started)))
        print(f"[feeder] done: {self.sent} predictions, {self.failed} failures", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float,
                        default=float(os.environ.get("AXION_FEEDER_RATE", "4")),
                        help=f"predictions per second (at most {MAX_RATE:g})")
    parser.add_argument("--seconds", type=float,
                        default=float(os.environ.get("AXION_FEEDER_SECONDS", "7200")),
                        help="stop after this long")
    args = parser.parse_args(argv)
    client = AxionClient.from_env(timeout=10)
    if not is_loopback(client.base_url):
        print(f"[feeder] refusing to send traffic to {client.base_url}: loopback only",
              file=sys.stderr)
        return 2
    feeder = Feeder(client, rate=args.rate, seconds=args.seconds)

    def stop(*_: object) -> None:
        feeder.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"[feeder] {1 / feeder.interval:g} predictions/s to {client.base_url} for "
          f"{args.seconds:g} s", flush=True)
    feeder.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
