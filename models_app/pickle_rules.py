"""The pickle allowlist as this deployment configures it (settings), for upload and load."""

from __future__ import annotations

import importlib
import sys
import threading

from django.conf import settings

from models_app.safe_pickle import GlobalPolicy, parse_extra_globals

_path_lock = threading.Lock()


def platform_paths_install() -> None:
    """Make the platform's model package importable (settings.PLATFORM_MODEL_PATHS)."""
    paths = [str(p) for p in settings.PLATFORM_MODEL_PATHS]
    with _path_lock:
        added = False
        for path in paths:
            if path not in sys.path:
                sys.path.append(path)
                added = True
        if added:
            importlib.invalidate_caches()


def pickle_policy() -> GlobalPolicy:
    """The allowlist, the operator's PICKLE_EXTRA_GLOBALS and the platform's own classes."""
    platform_paths_install()
    return GlobalPolicy(
        platform_packages=tuple(settings.PLATFORM_MODEL_PACKAGE),
        extra_globals=parse_extra_globals(settings.PICKLE_EXTRA_GLOBALS),
    )
