"""The registry's MLflow shapes, without Django."""

from __future__ import annotations

import pytest

from mlflow_app import registry_shapes as rshapes
from mlflow_app.shapes import ShapeError


def test_stage_names_are_read_in_any_case_and_unknown_ones_refused():
    assert rshapes.canonical_stage("production") == "Production"
    assert rshapes.canonical_stage("NONE") == "None"
    with pytest.raises(ShapeError, match="None, Staging, Production, Archived"):
        rshapes.canonical_stage("Live")


def test_deprecated_reads_as_archived_and_archived_stands_for_both():
    assert rshapes.mlflow_stage("deprecated") == rshapes.mlflow_stage("archived") == "Archived"
    assert rshapes.axion_stages("Archived") == ("archived", "deprecated")
    assert rshapes.mlflow_stage("draft") == "None"


def test_a_name_that_is_not_a_slug_gets_a_slug_to_use():
    assert rshapes.model_name("ranking_v2-b") == "ranking_v2-b"
    with pytest.raises(ShapeError, match="such as 'churn-model-v2'"):
        rshapes.model_name("churn model/v2")
    with pytest.raises(ShapeError, match="at most 100"):
        rshapes.model_name("a" * 101)


@pytest.mark.parametrize("value", ["0", "-1", "1.0.0", "x", ""])
def test_version_numbers_are_positive_integers(value):
    with pytest.raises(ShapeError, match="version number"):
        rshapes.version_number(value)


def test_axion_tags_are_read_only_and_shown_on_every_version():
    with pytest.raises(ShapeError, match="read-only"):
        rshapes.tag_dict([{"key": "axion.stage", "value": "production"}])
    assert rshapes.tag_dict([{"key": "team", "value": None}]) == {"team": ""}


def test_a_gate_message_lists_every_gate():
    message = rshapes.gate_message("v may not enter production.", [
        {"gate": "require_staging", "passed": True, "wanted": "from staging", "got": "staging"},
        {"gate": "threshold:auc", "passed": False, "wanted": "auc >= 0.9", "got": "auc = 0.7"},
    ])
    assert message == ("v may not enter production. Gate report: require_staging: passed "
                       "(wanted from staging, got staging); threshold:auc: FAILED (wanted "
                       "auc >= 0.9, got auc = 0.7).")
    assert rshapes.gate_message("refused.", []) == "refused."
