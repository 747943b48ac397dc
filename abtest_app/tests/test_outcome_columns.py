"""The column-at-a-time fast path of outcome parsing answers exactly what the per-item parser
answers: the same batch for a uniform one, and the per-item parser's error otherwise."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from abtest_app import outcomes
from abtest_app.outcome_columns import uniform_columns


def ratio_batch(n: int = 50) -> list[dict]:
    rng = np.random.default_rng(8)
    return [{"unit_id": f"u{i}", "value": float(rng.normal()), "outcome_id": f"o{i}",
             "covariate": float(rng.normal()), "denominator": float(rng.poisson(5) + 1),
             "covariate_denominator": float(rng.poisson(5))} for i in range(n)]


def per_item(items: list[dict], **options) -> outcomes.OutcomeBatch:
    """The per-item parser alone: a trailing "arm": None keeps the fast path away."""
    marked = [{**item, "arm": None} for item in items]
    return outcomes.parse_outcomes(marked, primary_binary=False, **options)


def as_plain(batch: outcomes.OutcomeBatch) -> dict:
    found = dataclasses.asdict(batch)
    found["values"] = batch.values.tolist()
    return found


@pytest.mark.parametrize("keys", [
    ("unit_id", "value"),
    ("unit_id", "value", "outcome_id"),
    ("unit_id", "value", "outcome_id", "covariate"),
])
def test_a_uniform_plain_batch_parses_as_the_per_item_parser_does(keys):
    items = [{key: item[key] for key in keys} for item in ratio_batch()]
    assert uniform_columns(items, binary=False, ratio=False) is not None
    fast = outcomes.parse_outcomes(items, primary_binary=False)
    assert as_plain(fast) == as_plain(per_item(items))


def test_a_uniform_ratio_batch_parses_as_the_per_item_parser_does():
    items = ratio_batch()
    assert uniform_columns(items, binary=False, ratio=True) is not None
    fast = outcomes.parse_outcomes(items, primary_binary=False, ratio=True)
    assert as_plain(fast) == as_plain(per_item(items, ratio=True))
    assert fast.covariate_denominators == [item["covariate_denominator"] for item in items]


@pytest.mark.parametrize(("change", "message"), [
    ({"value": float("nan")}, "value must be finite"),
    ({"value": 2e12}, "beyond"),
    ({"value": "1.5"}, "value must be a number"),
    ({"unit_id": ""}, "unit_id must be a non-empty string"),
    ({"unit_id": "u" * 201}, "unit_id must be a non-empty string"),
    ({"outcome_id": 7.5}, "outcome_id must be a non-empty string"),
    ({"denominator": -1.0}, "denominator must be >= 0"),
    ({"covariate_denominator": -0.5}, "covariate_denominator must be >= 0"),
    ({"covariate": float("inf")}, "covariate must be finite"),
])
def test_a_bad_item_in_an_otherwise_uniform_batch_gets_the_per_item_error(change, message):
    items = ratio_batch()
    items[17].update(change)
    assert uniform_columns(items, binary=False, ratio=True) is None
    with pytest.raises(outcomes.OutcomeError, match=message) as raised:
        outcomes.parse_outcomes(items, primary_binary=False, ratio=True)
    assert raised.value.index == 17


def test_batches_the_fast_path_does_not_read_still_parse_item_by_item():
    items = ratio_batch(10)
    mixed = copy.deepcopy(items)
    del mixed[3]["covariate"]  # one key fewer: not uniform
    assert uniform_columns(mixed, binary=False, ratio=True) is None
    batch = outcomes.parse_outcomes(mixed, primary_binary=False, ratio=True)
    assert batch.covariates[3] is None and batch.covariates[4] == items[4]["covariate"]
    swapped = copy.deepcopy(items)
    swapped[5] = {"unit_id": "u5", "value": 1.0, "outcome_id": "o5", "covariate": 1.0,
                  "denominator": 2.0, "metrics": {}}  # as many keys, another one
    assert uniform_columns(swapped, binary=False, ratio=True) is None
    integers = [{"unit_id": 7, "value": 1} for _ in range(3)]  # ints: the per-item rules
    assert outcomes.parse_outcomes(integers, primary_binary=False).unit_ids == ["7"] * 3
    with pytest.raises(outcomes.OutcomeError, match="only for a test whose metric is a ratio"):
        outcomes.parse_outcomes(items, primary_binary=False)  # ratio keys on a plain test
    binary = [{"unit_id": "a", "value": 1.0}, {"unit_id": "b", "value": 0.0}]
    assert uniform_columns(binary, binary=True, ratio=False) is None
    assert outcomes.parse_outcomes(binary, primary_binary=True).values.tolist() == [1.0, 0.0]
