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

    def get_abtest_sample_size(self, *, mde: float, **params: Any) -> dict[str, Any]:
        """Units per arm solved at the split. params: sd or baseline_rate, alpha, power,
        challenger_share."""
        return self.get("abtests/sample-size/", mde=mde, **params)

    def get_abtest_mde(self, *, n_champion: int, n_challenger: int,
                       **params: Any) -> dict[str, Any]:
        """The minimum detectable effect of these arm sizes. params: sd or baseline_rate,
        baseline_mean, alpha, power."""
        return self.get("abtests/mde/", n_champion=n_champion, n_challenger=n_challenger,
                        **params)
