"""Pickle and joblib files that can never run code they should not. No Django here.

One rule (`policy`): an exact allowlist of (module, qualified name) pairs, operator extras and
the platform package's own classes. Two readers apply it: the walker (`walker`) at upload,
executing nothing, and the restricted unpicklers (`unpickler`) whenever a file is loaded.
"""

from __future__ import annotations

from typing import IO, Any

from models_app.safe_pickle.allowlist import (
    ALLOWED_CLASS_NAMES,
    ALLOWED_GLOBALS,
    ALLOWED_HELPER_FUNCTIONS,
)
from models_app.safe_pickle.policy import (
    GlobalPolicy,
    UnsafePickle,
    global_refusal,
    is_allowed_dotted,
    is_allowed_global,
    parse_extra_globals,
)
from models_app.safe_pickle.unpickler import (
    restricted_joblib_load,
    restricted_load,
    restricted_loads,
)
from models_app.safe_pickle.walker import WalkReport, walk_joblib, walk_pickle
from models_app.vocabulary import ArtifactFormat

__all__ = [
    "ALLOWED_CLASS_NAMES", "ALLOWED_GLOBALS", "ALLOWED_HELPER_FUNCTIONS", "GlobalPolicy",
    "UnsafePickle", "WalkReport", "check_file", "global_refusal", "is_allowed_dotted",
    "is_allowed_global", "load_file", "parse_extra_globals", "restricted_joblib_load",
    "restricted_load", "restricted_loads", "walk_joblib", "walk_pickle",
]


def check_file(stream: IO[bytes], artifact_format: str, policy: GlobalPolicy) -> WalkReport:
    """Refuse (UnsafePickle) at upload what the loader would refuse; executes nothing."""
    walk = walk_joblib if artifact_format == ArtifactFormat.JOBLIB else walk_pickle
    return walk(stream, policy.check)


def load_file(stream: IO[bytes], artifact_format: str, policy: GlobalPolicy) -> Any:
    """The object in a pickle or joblib file, through the restricted unpickler."""
    if artifact_format == ArtifactFormat.JOBLIB:
        return restricted_joblib_load(stream, policy)
    return restricted_load(stream, policy)
