"""The client runs on a training machine: Django, and the project's Django code, cannot be
imported there, and the client neither needs nor tries them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BLOCKED = ("django", "rest_framework", "celery", "kombu", "axion_registry", "models_app",
           "experiments_app", "abtest_app", "serving_app", "dashboard")
SCRIPT = """
import json, socket, sys

BLOCKED = set(sys.argv[1].split(","))

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not installed on a training machine")
        return None

sys.meta_path.insert(0, Blocker())

import axion_client
from axion_client import APIUnreachable, AxionClient

with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
client = AxionClient(f"http://127.0.0.1:{port}", "a-token", timeout=5)
try:
    client.list_models()
    outcome = "answered"
except APIUnreachable:
    outcome = "unreachable"
print(json.dumps({"outcome": outcome, "names": sorted(axion_client.__all__)}))
"""


def test_the_client_imports_and_calls_the_api_where_importing_django_fails():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-c", SCRIPT, ",".join(BLOCKED)], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["outcome"] == "unreachable"
    assert {"AxionClient", "AxionAPIError", "APIUnreachable", "ActiveRun"} <= set(
        report["names"])


def test_the_blocker_really_blocks_django():
    code = SCRIPT.split("import axion_client")[0] + "import django\n"
    result = subprocess.run([sys.executable, "-c", code, "django"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "django is not installed on a training machine" in result.stderr
