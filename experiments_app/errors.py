from axion_registry.errors import Conflict, InvalidInput, NotFound, PermissionRefused, TooLarge


class ExperimentNotFound(NotFound):
    code = "experiment_not_found"


class RunNotFound(NotFound):
    code = "run_not_found"


class MetricNotFound(NotFound):
    code = "metric_not_found"


class ArtifactNotFound(NotFound):
    code = "artifact_not_found"


class TagNotFound(NotFound):
    code = "tag_not_found"


class NoMatchingRun(NotFound):
    code = "no_matching_run"


class InvalidTrackingInput(InvalidInput):
    code = "invalid_tracking_input"


class InvalidArtifactPath(InvalidInput):
    code = "invalid_artifact_path"


class InvalidSearch(InvalidInput):
    code = "invalid_search"


class BatchTooLarge(TooLarge):
    code = "batch_too_large"


class DuplicateExperiment(Conflict):
    code = "duplicate_experiment"


class ExperimentArchived(Conflict):
    code = "experiment_archived"


class RunNotActive(Conflict):
    code = "run_not_active"


class ParamConflict(Conflict):
    code = "param_conflict"


class RunArtifactTooLarge(TooLarge):
    code = "artifact_too_large"


class RunNotPermitted(PermissionRefused):
    code = "run_not_permitted"


class ExperimentNotPermitted(PermissionRefused):
    code = "experiment_not_permitted"
