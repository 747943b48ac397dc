"""The dashboard talks to the API only: rendering every tab imports neither Django nor any
of the project's Django code (axion_registry included: HTTP goes through axion_client).
The Django-free vocabulary modules (the enums of stages, decisions...) are the exception."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, sys
import responses
from streamlit.testing.v1 import AppTest
from dashboard.tests.fake_api import FakeAPI

with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
    FakeAPI(mock)
    at = AppTest.from_file("dashboard/app.py", default_timeout=60).run()
prefixes = ("django", "rest_framework", "models_app", "experiments_app", "abtest_app",
            "serving_app", "axion_registry", "celery")
pure = {"models_app", "models_app.vocabulary", "abtest_app", "abtest_app.vocabulary"}
print(json.dumps({
    "exceptions": [str(e.value) for e in at.exception],
    "errors": [str(e.value) for e in at.error],
    "tabs": [t.label for t in at.tabs],
    "leaked": sorted(m for m in sys.modules if (m.split(".")[0] in prefixes
                     or m in prefixes) and m not in pure),
}))
"""


def test_rendering_every_tab_imports_no_django():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(AXION_API_URL="http://axion.test/api/v1", AXION_API_TOKEN="test-token",
               PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["exceptions"] == [] and report["errors"] == []
    assert report["tabs"] == ["Model Registry", "Experiments", "A/B Tests", "Deployment"]
    assert report["leaked"] == []


def test_the_dashboard_builds_no_url_and_makes_no_request_itself():
    """Every URL is axion_client's: no HTTP library import, no API path in dashboard code."""
    import ast
    import re

    path_like = re.compile(r"^/?[\w{}.-]+(/[\w{}.-]*)*/$")
    found = []
    for source in sorted((ROOT / "dashboard").rglob("*.py")):
        if "tests" in source.parts:
            continue
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                    node.module or ""]
                found += [f"{source.name}: import {n}" for n in names
                          if n.split(".")[0] in ("requests", "urllib", "http", "httpx")]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if path_like.match(node.value):
                    found.append(f"{source.name}: {node.value!r}")
    assert found == []
