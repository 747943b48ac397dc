from __future__ import annotations

from axion_registry.errors import Conflict, InvalidInput, NotFound, PermissionRefused, Unavailable


class InvalidRows(InvalidInput):
    code = "invalid_input"


class InputRejected(InvalidInput):
    """The model (and its fallback) refused the rows; the caller's error, never counted as a
    failure of the version."""

    code = "input_rejected"


class ModelUnavailable(Unavailable):
    """No version could answer: the current one failed and no fallback could serve."""

    code = "model_unavailable"


class NotDeployed(NotFound):
    """Nothing in production: a state of the registry, not a fault of the server."""

    code = "no_production_version"


class ArtifactRefused(Unavailable):
    """An artifact that must not be loaded (checksum, allowlist) or cannot be."""

    code = "artifact_refused"


class VersionNotPermitted(PermissionRefused):
    code = "version_not_permitted"


class AliasNotServable(Conflict):
    """The alias names a version that has not passed the model's load-check gate."""

    code = "alias_not_servable"
