from axion_registry.errors import Conflict, InvalidInput, NotFound, PermissionRefused, TooLarge


class ABTestNotFound(NotFound):
    code = "abtest_not_found"


class InvalidABTest(InvalidInput):
    """A test definition that cannot run; the code names the field (e.g. same_version)."""

    code = "invalid_abtest"


class InvalidOutcomes(InvalidInput):
    code = "invalid_outcomes"


class OutcomeBatchTooLarge(TooLarge):
    code = "batch_too_large"


class AnotherTestRunning(Conflict):
    code = "test_already_running"


class ABTestTransitionRefused(Conflict):
    code = "abtest_transition_refused"


class ABTestNotCollecting(Conflict):
    code = "test_not_collecting"


class ABTestNotPermitted(PermissionRefused):
    code = "abtest_not_permitted"


class OutcomesNotPermitted(PermissionRefused):
    code = "outcomes_not_permitted"


class OutcomeTokenNotFound(NotFound):
    code = "outcome_token_not_found"
