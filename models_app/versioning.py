"""Semantic versions of model versions, with the semver library. No Django here."""

from __future__ import annotations

import semver

from models_app.vocabulary import Bump

BUMPS = tuple(Bump.values)
FIRST_VERSION = semver.Version(1, 0, 0)


class VersionError(ValueError):
    pass


def parse_version(text: str) -> semver.Version:
    """A plain MAJOR.MINOR.PATCH version; pre-release and build parts are refused."""
    try:
        version = semver.Version.parse(text.strip())
    except (ValueError, TypeError) as exc:
        raise VersionError(
            f"'{text}' is not a semantic version; use MAJOR.MINOR.PATCH such as 1.4.0."
        ) from exc
    if version.prerelease or version.build:
        raise VersionError(
            f"'{text}' has a pre-release or build part; use plain MAJOR.MINOR.PATCH such as 1.4.0."
        )
    return version


def next_version(latest: semver.Version | None, bump: str) -> semver.Version:
    """The version after `latest` for a bump kind; a model's first version is 1.0.0."""
    if bump not in BUMPS:
        raise VersionError(f"Unknown bump '{bump}'; use one of {', '.join(BUMPS)}.")
    if latest is None:
        return FIRST_VERSION
    return latest.next_version(part=bump)
