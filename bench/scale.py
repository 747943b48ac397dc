"""Data at scale on PostgreSQL (issue 18), both halves in one command: registry reads over
10^3 ... 10^6 versions (bench/scale_registry.py), then metric histories of 10^4 ... points
and ingestion through the batch API (bench/scale_metrics.py). Each half seeds its own
database in bulk with progress and prints its tables with growth ratios; this runs them one
after the other, so the two never share the machine's cores.

    .venv/bin/python bench/scale.py [--sizes 1000,10000,100000,1000000] [--max-points 10000000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000",
                        help="version counts for the registry half")
    parser.add_argument("--max-points", default="10000000",
                        help="the longest run's points for the metrics half")
    parser.add_argument("--batches", default="30", help="ingestion batches to time")
    args = parser.parse_args()
    halves = [
        ("registry reads", [BENCH / "scale_registry.py", "--sizes", args.sizes]),
        ("metric histories and ingestion",
         [BENCH / "scale_metrics.py", "--max-points", args.max_points, "--batches", args.batches]),
    ]
    for title, command in halves:
        print(f"=== {title}", flush=True)
        subprocess.run([sys.executable, *map(str, command)], check=True)


if __name__ == "__main__":
    main()
