"""Champion/challenger A/B tests: the tests and their results."""

from __future__ import annotations

from typing import Any

from axion_client.http import Transport


class ABTestsAPI(Transport):
    def list_abtests(self, *, max_results: int | None = None,
                     **filters: Any) -> list[dict[str, Any]]:
        """Filters: model, state, ordering (e.g. "-created_at")."""
        return self.collect("abtests/", max_results=max_results, **filters)

    def get_abtest_results(self, test_id: int) -> dict[str, Any]:
        """The test, its latest evaluation, per-arm statistics and the evaluation history."""
        return self.get(f"abtests/{test_id}/results/")
