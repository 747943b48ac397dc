"""Which globals a pickle may name: the exact allowlist, operator extras and platform classes.

No Django here: registration, the loader, skops checks and scripts share this one rule.
"""

from __future__ import annotations

import _compat_pickle
import importlib
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from models_app.safe_pickle.allowlist import ALLOWED_GLOBALS

_QUALNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class UnsafePickle(Exception):
    """A pickle or joblib file that must not be loaded; `reason` says why in one sentence."""

    def __init__(self, reason: str, *, global_name: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.global_name = global_name


def canonical_global(module: str, name: str) -> tuple[str, str]:
    """The Python 3 spelling of a global, as pickle itself maps protocol 0-2 names."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def parse_extra_globals(items: Iterable[str]) -> frozenset[tuple[str, str]]:
    """`module:qualname` strings (the PICKLE_EXTRA_GLOBALS setting) as exact pairs."""
    pairs = set()
    for item in items:
        module, sep, name = item.strip().partition(":")
        if not sep or not _QUALNAME.fullmatch(module) or not _QUALNAME.fullmatch(name):
            raise ValueError(f"{item!r} is not module:qualname (e.g. mypkg.models:Ranker)")
        pairs.add((module, name))
    return frozenset(pairs)


def _in_packages(module: str, packages: Sequence[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _resolve(module: str, name: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _platform_refusal(module: str, name: str, packages: Sequence[str]) -> str | None:
    label = f"the file imports {module}.{name}"
    if not _QUALNAME.fullmatch(name):
        return f"{label}, which is not a plain class name of the platform model package."
    try:
        obj = _resolve(module, name)
    except (ImportError, AttributeError) as exc:
        return (f"{label} from the platform model package, which cannot be imported here "
                f"({exc}); check PLATFORM_MODEL_PATHS.")
    if not isinstance(obj, type):
        return (f"{label}, a {type(obj).__name__} of the platform model package; only its "
                "classes may be loaded.")
    if not _in_packages(getattr(obj, "__module__", "") or "", packages):
        return (f"{label}, which is {obj.__module__}.{obj.__qualname__} re-exported by the "
                "platform model package, not a class defined there; loading it could run code.")
    return None


def global_refusal(module: str, name: str, platform_packages: Sequence[str] = (),
                   extra_globals: Collection[tuple[str, str]] = ()) -> str | None:
    """None when a pickle may import module.name; otherwise why not, as a sentence.

    Platform classes are checked by importing their (trusted) module: the object must be a
    class whose __module__ lies in the platform package.
    """
    module, name = canonical_global(module, name)
    if (module, name) in ALLOWED_GLOBALS or (module, name) in extra_globals:
        return None
    if _in_packages(module, platform_packages):
        return _platform_refusal(module, name, platform_packages)
    return (f"the file imports {module}.{name}, which is not on the pickle allowlist; "
            "loading it could run code.")


def is_allowed_global(module: str, name: str, platform_packages: Sequence[str] = (),
                      extra_globals: Collection[tuple[str, str]] = ()) -> bool:
    """True when a pickle (or skops file) may name this exact (module, qualified name)."""
    return global_refusal(module, name, platform_packages, extra_globals) is None


def is_allowed_dotted(dotted: str, platform_packages: Sequence[str] = (),
                      extra_globals: Collection[tuple[str, str]] = ()) -> bool:
    """The same rule for a dotted type name (skops' form): some module/name split must pass."""
    parts = dotted.split(".")
    return any(is_allowed_global(".".join(parts[:i]), ".".join(parts[i:]), platform_packages,
                                 extra_globals) for i in range(1, len(parts)))


@dataclass
class GlobalPolicy:
    """The allowlist as the unpicklers and the walker apply it, with resolved objects cached."""

    platform_packages: tuple[str, ...] = ()
    extra_globals: frozenset[tuple[str, str]] = frozenset()
    _resolved: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    def check(self, module: str, name: str) -> None:
        """Raise UnsafePickle unless module.name is allowed."""
        if (module, name) in self._resolved:
            return
        reason = global_refusal(module, name, self.platform_packages, self.extra_globals)
        if reason is not None:
            raise UnsafePickle(reason, global_name=f"{module}.{name}")

    def resolve(self, module: str, name: str) -> Any:
        """The allowed object itself (what find_class returns); UnsafePickle otherwise."""
        key = (module, name)
        if key not in self._resolved:
            self.check(module, name)
            from models_app.safe_pickle.hardened import HARDENED

            canonical = canonical_global(module, name)
            self._resolved[key] = HARDENED.get(canonical) or _resolve(*canonical)
        return self._resolved[key]
