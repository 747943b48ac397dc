"""What the upload and load checks for skops, ONNX and signatures cost (pure, no database).

Measures, median of several runs each:

- the skops node audit of a 100-tree random forest, against skops's own
  get_untrusted_types and against sio.loads of the same bytes;
- the ONNX external-data audit (parse, walk, onnx.checker) of an MLP of 256 x 2048 weights;
- model-signing verification of a bundle over 10 MB and 100 MB artifacts.

Usage: .venv/bin/python bench/artifact_checks.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models_app import safe_onnx, safe_pickle, safe_skops, signing  # noqa: E402


def row(label: str, ms: float) -> None:
    print(f"  {label:28} {ms:8.1f} ms")


def median_ms(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def forest_skops() -> bytes:
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    features = rng.normal(size=(2000, 20))
    labels = (features[:, 0] + features[:, 3] > 0).astype(int)
    return sio.dumps(RandomForestClassifier(n_estimators=100, random_state=0).fit(features,
                                                                                   labels))


def mlp_onnx() -> bytes:
    from skl2onnx import to_onnx
    from sklearn.neural_network import MLPRegressor

    rng = np.random.default_rng(0)
    features = rng.normal(size=(500, 256))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPRegressor(hidden_layer_sizes=(2048,), max_iter=5).fit(features, features[:, 0])
    return to_onnx(model, features[:1].astype(np.float32)).SerializeToString()


def signed_file(folder: Path, size: int) -> tuple[Path, bytes, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from model_signing import signing as ms

    key = ec.generate_private_key(ec.SECP256R1())
    private = folder / "key.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    artifact = folder / f"artifact-{size}"
    artifact.write_bytes(np.random.default_rng(1).bytes(size))
    bundle = folder / f"artifact-{size}.sig"
    ms.Config().use_elliptic_key_signer(private_key=private).sign(artifact, bundle)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return artifact, bundle.read_bytes(), public.decode()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    import skops.io as sio

    forest = forest_skops()
    allowed = safe_skops.classes_only(safe_pickle.is_allowed_global)
    assert safe_skops.audit(forest, allowed).ok
    trusted = sio.get_untrusted_types(data=forest)
    print(f"skops forest, 100 trees, {len(forest) / 1e6:.1f} MB (median of {runs}):")
    row("safe_skops.audit", median_ms(partial(safe_skops.audit, forest, allowed), runs))
    row("sio.get_untrusted_types",
        median_ms(partial(sio.get_untrusted_types, data=forest), runs))
    row("sio.loads", median_ms(partial(sio.loads, forest, trusted=trusted), runs))

    mlp = mlp_onnx()
    assert safe_onnx.audit(mlp).ok
    print(f"ONNX MLP, {len(mlp) / 1e6:.1f} MB:")
    row("safe_onnx.audit", median_ms(partial(safe_onnx.audit, mlp), runs))

    print("model-signing verification (one trusted key):")
    with tempfile.TemporaryDirectory() as folder:
        for size in (10 * 1024**2, 100 * 1024**2):
            artifact, bundle, public = signed_file(Path(folder), size)
            row(f"verify_file, {size // 1024**2} MB",
                median_ms(partial(signing.verify_file, artifact, bundle, [public]), runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
