"""A large artifact's load: first from the bucket (moto's S3 server on loopback) into the
host's cache, then from the host cache alone (sha256 verified again); medians of N runs and
the ratio. Not a test: it prints, it asserts nothing.

    .venv/bin/python bench/artifact_cache.py [--mb 500] [--runs 3]

A later bench (bench/cluster.py) calls artifact_cache_bench() and prints its figures.
Each "from the bucket" run starts from an empty cache folder; each "from the host cache"
run reuses the filled one, as a restarted process on the same host would. Moto serves from
this machine's memory, so the bucket figure is a floor: a real bucket adds the network.

Downloads here are one streamed GET per artifact (--ranged: boto3's default, concurrent 8 MiB
ranged GETs, as production does against S3): moto reads the whole object again for every
ranged GET, so a 500 MB artifact's 63 ranges cost it about 100 s, which measures moto, not
the cache.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MIB = 1024 * 1024


def _write_artifact(path: Path, mb: int) -> str:
    digest = hashlib.sha256()
    block = os.urandom(MIB)
    with path.open("wb") as out:
        for number in range(mb):
            chunk = number.to_bytes(8, "little") + block[8:]  # no two MiB alike
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _drain(handle: Any) -> None:
    while handle.read(MIB):
        pass


def artifact_cache_bench(mb: int = 500, runs: int = 3, ranged: bool = False) -> dict[str, Any]:
    """Figures in seconds (medians) and MB/s, with the moto request counts behind them.
    Call it in a process where Django is not set up yet: it points the artifact storage at
    its own moto server through the environment."""
    from axion_registry.moto_s3 import MotoS3

    work = Path(tempfile.mkdtemp(prefix="axion-cache-bench-"))
    server = MotoS3(log=work / "moto.log").start()
    try:
        server.create_bucket("bench")
        os.environ.update(server.environment("bench"))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "axion_registry.settings")
        import django

        django.setup()
        from django.conf import settings

        from models_app import artifacts

        settings.ARTIFACT_CACHE_MAX_BYTES = 2 * mb * MIB
        rss_set_up_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        source = work / "model.bin"
        sha256 = _write_artifact(source, mb)
        name = "bench/1.0.0/model.bin"
        started = time.perf_counter()
        with source.open("rb") as stream:
            artifacts.artifact_save(name, stream)
        upload_s = time.perf_counter() - started
        source.unlink()
        if not ranged:
            from boto3.s3.transfer import TransferConfig

            storage: Any = artifacts.artifact_storage()
            storage.transfer_config = TransferConfig(multipart_threshold=1 << 40)

        from_bucket, from_cache = [], []
        for run in range(runs):
            settings.ARTIFACT_CACHE_DIR = work / f"cache-{run}"
            started = time.perf_counter()
            cached = artifacts.artifact_cached(name, sha256)
            with cached.file as handle:
                _drain(handle)
            from_bucket.append(time.perf_counter() - started)
            assert cached.filled
        gets_before = server.requests("GET", "/bench/")
        for _ in range(runs):
            started = time.perf_counter()
            cached = artifacts.artifact_cached(name, sha256)
            with cached.file as handle:
                _drain(handle)
            from_cache.append(time.perf_counter() - started)
            assert not cached.filled
        bucket_s, cache_s = statistics.median(from_bucket), statistics.median(from_cache)
        return {
            "mb": mb, "runs": runs, "upload_s": upload_s,
            "upload_multipart_parts": server.requests("PUT", f"/bench/{name}?uploadId="),
            "from_bucket_s": bucket_s, "from_cache_s": cache_s,
            "from_bucket_mb_s": mb / bucket_s, "from_cache_mb_s": mb / cache_s,
            "ratio": bucket_s / cache_s,
            "bucket_gets_per_first_load": gets_before / runs,
            "bucket_requests_during_cache_loads": server.requests("GET", "/bench/")
            - gets_before,
            "rss_set_up_mb": rss_set_up_mb,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ranged", action="store_true",
                        help="boto3's concurrent ranged GETs (slow on moto, see above)")
    args = parser.parse_args()
    figures = artifact_cache_bench(args.mb, args.runs, args.ranged)
    print(f"artifact of {figures['mb']} MB, medians of {figures['runs']} runs")
    print(f"  upload to the bucket (multipart, {figures['upload_multipart_parts']} parts): "
          f"{figures['upload_s']:.2f} s")
    print(f"  first load from the bucket into the host cache: {figures['from_bucket_s']:.2f} s "
          f"({figures['from_bucket_mb_s']:.0f} MB/s, "
          f"{figures['bucket_gets_per_first_load']:.0f} GETs)")
    print(f"  load from the host cache (sha256 verified):     {figures['from_cache_s']:.2f} s "
          f"({figures['from_cache_mb_s']:.0f} MB/s, "
          f"{figures['bucket_requests_during_cache_loads']} bucket requests)")
    print(f"  ratio bucket / host cache: {figures['ratio']:.1f}x")
    print(f"  peak resident memory of this process: {figures['peak_rss_mb']:.0f} MB "
          f"({figures['rss_set_up_mb']:.0f} MB once Django was set up)")


if __name__ == "__main__":
    main()
