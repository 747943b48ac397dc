"""The registry's vocabulary: pure enums whose choices Django fields and serializers take."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models_app import choices
from models_app.vocabulary import ArtifactFormat, Direction, Stage, Vocabulary

ROOT = Path(__file__).resolve().parents[2]
PURE_MODULES = ["models_app.vocabulary", "abtest_app.vocabulary", "abtest_app.decision",
                "abtest_app.outcomes", "abtest_app.assignment"]
SCRIPT = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("django", "rest_framework"))))
"""


def test_importing_the_vocabularies_and_the_pure_modules_imports_no_django() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-c", SCRIPT, *PURE_MODULES], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_choices_re_export_the_one_enum_of_each_concept() -> None:
    assert choices.Stage is Stage and choices.Direction is Direction
    assert choices.ArtifactFormat is ArtifactFormat


def test_choices_values_and_labels_are_those_django_would_derive() -> None:
    assert Stage.choices == [("draft", "Draft"), ("staging", "Staging"),
                             ("production", "Production"), ("archived", "Archived"),
                             ("deprecated", "Deprecated")]
    assert Direction.values == ["higher", "lower"]
    assert Direction.labels == ["Higher", "Lower"]


def test_a_member_is_its_stored_string() -> None:
    assert Stage.PRODUCTION == "production" and Stage("production") is Stage.PRODUCTION
    assert f"{Stage.STAGING}" == str(Stage.STAGING) == "staging"
    assert json.dumps({"stage": Stage.DRAFT}) == '{"stage": "draft"}'
    assert {"higher": 1}[Direction.HIGHER] == 1


def test_a_member_may_carry_its_own_label() -> None:
    class Size(Vocabulary):
        SMALL = "s", "small enough"
        LARGE_ONE = "l"

    assert Size.choices == [("s", "small enough"), ("l", "Large One")]
    assert Size("s") is Size.SMALL and Size.SMALL.value == "s"


def test_the_tracking_api_words_max_and_min_name_a_direction() -> None:
    assert Direction.from_extremum("max") is Direction.HIGHER
    assert Direction.from_extremum("min") is Direction.LOWER
    assert Direction.LOWER.extremum == "min"
    assert (Direction.HIGHER.sign, Direction.LOWER.sign) == (1, -1)
    with pytest.raises(ValueError, match="use max or min"):
        Direction.from_extremum("higher")
