"""Write the hostile corpus to a folder: python scripts/hostile_corpus.py DIR [MARKER]."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models_app.tests.hostile import build_corpus  # noqa: E402


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    directory = Path(sys.argv[1])
    marker = Path(sys.argv[2]) if len(sys.argv) > 2 else directory / "PWNED"
    files = build_corpus(directory, marker)
    for f in files:
        print(f"{f.artifact_format:7} {f.name:50} {f.cause}")
    print(f"{len(files)} hostile files in {directory}; a payload that ran would create {marker}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
