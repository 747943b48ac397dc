from __future__ import annotations

from axion_registry.errors import InvalidInput, PermissionRefused, Unavailable


class InvalidRows(InvalidInput):
    code = "invalid_input"


class ModelUnavailable(Unavailable):
    """No version could answer: the current one failed and no fallback could serve."""

    code = "model_unavailable"


class NotDeployed(Unavailable):
    code = "no_production_version"


class ArtifactRefused(Unavailable):
    """An artifact that must not be loaded (checksum, allowlist) or cannot be."""

    code = "artifact_refused"


class VersionNotPermitted(PermissionRefused):
    code = "version_not_permitted"
