"""Every write workflow of the A/B test app. Import from here."""

from abtest_app.services.evaluation import abtest_conclude, abtest_evaluate
from abtest_app.services.lifecycle import (
    abtest_cancel,
    abtest_create,
    abtest_pause,
    abtest_start,
    can_manage,
)
from abtest_app.services.outcomes import MAX_BATCH, OutcomeReceipt, abtest_record_outcomes

__all__ = [
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
]
