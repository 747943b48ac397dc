"""A/B routing: which arm, and so which version, answers a request.

The running test comes from abtest_app through one function,
``abtest_app.selectors.running_test_for_model(model_id)``, which returns None or an object
(or tuple) of ``test_id, seed, champion_version_id, challenger_version_id,
challenger_share`` with the share in percent (0..100). Without it, no model has a running
test. The arm is abtest_app's pure ``assign_arm``: serving and the assign endpoint agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from abtest_app.assignment import CHALLENGER, CHAMPION, assign_arm

__all__ = ["ABRoute", "CHALLENGER", "CHAMPION", "choose_arm", "running_test"]

_selector: Callable[[int], Any] | None = None
_resolved = False


@dataclass(frozen=True)
class ABRoute:
    test_id: int
    seed: str
    champion_version_id: int
    challenger_version_id: int
    challenger_share: float


def _running_test_selector() -> Callable[[int], Any] | None:
    global _selector, _resolved
    if not _resolved:
        try:
            from abtest_app.selectors import running_test_for_model

            _selector = running_test_for_model
        except (ImportError, AttributeError):
            _selector = None
        _resolved = True
    return _selector


def running_test(model_id: int) -> ABRoute | None:
    selector = _running_test_selector()
    if selector is None:
        return None
    found = selector(model_id)
    if found is None:
        return None
    if isinstance(found, tuple):
        test_id, seed, champion, challenger, share = found
    else:
        test_id, seed = found.test_id, found.seed
        champion, challenger = found.champion_version_id, found.challenger_version_id
        share = found.challenger_share
    return ABRoute(int(test_id), str(seed), int(champion), int(challenger), float(share))


def choose_arm(test: ABRoute, unit_id: str | None) -> str:
    """The unit's arm; a request without a unit id goes to the champion."""
    if unit_id is None or unit_id == "":
        return CHAMPION
    share = test.challenger_share
    if share <= 0:
        return CHAMPION
    if share >= 100:
        return CHALLENGER
    return assign_arm(test.seed, str(unit_id), share)
