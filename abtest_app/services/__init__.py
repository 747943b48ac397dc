"""Every write workflow of the A/B test app. Import from here."""

from abtest_app.services.evaluation import abtest_conclude, abtest_evaluate
from abtest_app.services.lifecycle import (
    abtest_cancel,
    abtest_create,
    abtest_pause,
    abtest_start,
    can_manage,
    may_start,
    require_manager,
)
from abtest_app.services.outcomes import MAX_BATCH, OutcomeReceipt, abtest_record_outcomes
from abtest_app.services.tokens import (
    IssuedToken,
    outcome_token_create,
    outcome_token_find,
    outcome_token_revoke,
    require_outcome_poster,
)

__all__ = [
    "IssuedToken",
    "MAX_BATCH",
    "OutcomeReceipt",
    "abtest_cancel",
    "abtest_conclude",
    "abtest_create",
    "abtest_evaluate",
    "abtest_pause",
    "abtest_record_outcomes",
    "abtest_start",
    "can_manage",
    "may_start",
    "require_manager",
    "outcome_token_create",
    "outcome_token_find",
    "outcome_token_revoke",
    "require_outcome_poster",
]
