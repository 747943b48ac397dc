"""Derive the pickle allowlist from real models: python scripts/pickle_allowlist.py [--check].

Trains a broad set of real models (scikit-learn, LightGBM, XGBoost, pandas objects inside
models, numpy arrays of every common dtype, random generators, scipy sparse matrices),
pickles them with protocols 2-5 and joblib-dumps them raw and compressed, and prints every
global those files import, found two ways that must agree: the upload walker (reading
opcodes) and a recording unpickler (really loading). Paste the reviewed result into
models_app/safe_pickle/allowlist.py. With --check it exits 1 when a global is missing there.
"""

from __future__ import annotations

import functools
import io
import pickle
import sys
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from models_app.safe_pickle import walk_joblib, walk_pickle  # noqa: E402
from models_app.safe_pickle.allowlist import ALLOWED_GLOBALS  # noqa: E402
from models_app.safe_pickle.policy import canonical_global  # noqa: E402
from models_app.tests.real_models import artifacts, real_models  # noqa: E402

# Real models need these, and they stay out: see the allowlist module's docstring.
REFUSED_ON_PURPOSE = {("functools", "partial"), ("sklearn.utils.validation", "check_array")}


def loaded_globals(data: bytes, fmt: str) -> set[tuple[str, str]]:
    """Every global the real unpickler asks for (it loads the file: trusted models only)."""
    from models_app.safe_pickle import unpickler as restricted

    seen: set[tuple[str, str]] = set()

    class Recorder:
        def resolve(self, module: str, name: str) -> Any:
            seen.add((module, name))
            return pickle.Unpickler.find_class(_Finder, module, name)

    class _FinderClass(pickle.Unpickler):
        proto = 5

    _Finder = _FinderClass(io.BytesIO(b""))
    if fmt == "joblib":
        restricted.restricted_joblib_load(io.BytesIO(data), Recorder())  # type: ignore[arg-type]
    else:
        restricted.restricted_loads(data, Recorder())  # type: ignore[arg-type]
    return seen


def _note(seen: set[tuple[str, str]], module: str, name: str) -> None:
    seen.add((module, name))


def collect() -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for label, obj in real_models().items():
        for variant, fmt, data in artifacts(obj):
            walked: set[tuple[str, str]] = set()
            walk = walk_joblib if fmt == "joblib" else walk_pickle
            walk(io.BytesIO(data), functools.partial(_note, walked))
            loaded = loaded_globals(data, fmt)
            if {canonical_global(*g) for g in walked} != {canonical_global(*g) for g in loaded}:
                raise SystemExit(f"walker and unpickler disagree on {label} {variant}: "
                                 f"{sorted(walked ^ loaded)}")
            for pair in walked:
                found[canonical_global(*pair)].add(label)
    return found


def main() -> int:
    warnings.simplefilter("ignore")
    found = collect()
    by_package: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for module, name in sorted(found):
        by_package[module.split(".")[0]].append((module, name))
    for package, pairs in sorted(by_package.items()):
        print(f"# {package}")
        for module, name in pairs:
            mark = ("" if (module, name) in ALLOWED_GLOBALS
                    else "   # refused on purpose" if (module, name) in REFUSED_ON_PURPOSE
                    else "   # a platform class" if module.startswith("models_app.tests.platform")
                    else "   # NOT IN THE ALLOWLIST")
            print(f'    ("{module}", "{name}"),{mark}')
    missing = [pair for pair in found if pair not in ALLOWED_GLOBALS | REFUSED_ON_PURPOSE
               and not pair[0].startswith("models_app.tests.platform")]
    print(f"{len(found)} globals from real models; {len(missing)} missing from the allowlist")
    return 1 if "--check" in sys.argv and missing else 0


if __name__ == "__main__":
    sys.exit(main())
