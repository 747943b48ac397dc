"""Serving: what each model serves, its latency per minute, deployments and fallbacks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from axion_client.http import Transport


class ServingAPI(Transport):
    def get_serving_status(self, model: str) -> dict[str, Any]:
        """Production and fallback versions, the last warm-up, the serving policy."""
        return self.get(f"serve/{model}/status/")

    def get_latency(self, model: str, minutes: int) -> list[dict[str, Any]]:
        """Per-minute counts, errors, fallbacks and latency percentiles, oldest first."""
        return self.get(f"serve/{model}/latency/", minutes=minutes)

    def list_deployments(self, *, kinds: Iterable[str] = (), max_results: int | None = None,
                         **filters: Any) -> list[dict[str, Any]]:
        """Warm-ups, fallbacks and rollbacks, newest first; `kinds` narrows them."""
        return self.collect("deployments/", max_results=max_results, kind=list(kinds),
                            **filters)
