"""The filter grammar alone: no Django, no database."""

from __future__ import annotations

import re

import pytest

from mlflow_app.grammar import (
    EXPERIMENT_RULES,
    RUN_RULES,
    Condition,
    FilterSyntaxError,
    OrderKey,
    like_to_regex,
    parse_checked_filter,
    parse_checked_order_by,
    parse_filter,
)


def one(text: str) -> Condition:
    [condition] = parse_checked_filter(text, RUN_RULES)
    return condition


@pytest.mark.parametrize("text, kind, key, comparator, value", [
    ("metrics.loss < 1", "metric", "loss", "<", 1.0),
    ("metric.loss >= -0.5", "metric", "loss", ">=", -0.5),
    ("metrics.auc != 1e-3", "metric", "auc", "!=", 0.001),
    ("params.lr = '0.01'", "param", "lr", "=", "0.01"),
    ('param.lr = "0.01"', "param", "lr", "=", "0.01"),
    ("parameters.optimizer LIKE 'ad%'", "param", "optimizer", "LIKE", "ad%"),
    ("tags.mlflow.parentRunId = 'abc'", "tag", "mlflow.parentRunId", "=", "abc"),
    ("tags.`my key` ILIKE '%Q%'", "tag", "my key", "ILIKE", "%Q%"),
    ('tags."team name" = \'quant\'', "tag", "team name", "=", "quant"),
    ("tags.team IS NULL", "tag", "team", "IS NULL", None),
    ("params.lr is not null", "param", "lr", "IS NOT NULL", None),
    ("attributes.status = 'FINISHED'", "attribute", "status", "=", "FINISHED"),
    ("status != 'FAILED'", "attribute", "status", "!=", "FAILED"),
    ("attributes.run_id IN ('a', 'b')", "attribute", "run_id", "IN", ("a", "b")),
    ("run_id NOT IN ('a')", "attribute", "run_id", "NOT IN", ("a",)),
    ("attributes.created > 1700000000000", "attribute", "start_time", ">", 1.7e12),
    ("attr.`Run name` LIKE 'lgbm-%'", "attribute", "run_name", "LIKE", "lgbm-%"),
    ("run.end_time <= 5", "attribute", "end_time", "<=", 5.0),
    ("datasets.digest = 'd1'", "dataset", "digest", "=", "d1"),
    ("tags.note = 'it''s'", None, None, None, None),
])
def test_it_parses_each_kind_of_condition(text, kind, key, comparator, value):
    if kind is None:
        with pytest.raises(FilterSyntaxError):
            one(text)
        return
    condition = one(text)
    assert (condition.kind, condition.key, condition.comparator, condition.value) == (
        kind, key, comparator, value)


def test_it_joins_conditions_with_and_in_any_case():
    conditions = parse_checked_filter(
        "metrics.loss < 1 and params.lr = '0.01' AND tags.team = 'quant'", RUN_RULES)
    assert [c.kind for c in conditions] == ["metric", "param", "tag"]


def test_an_empty_filter_has_no_conditions():
    assert parse_filter("") == [] and parse_filter("   ") == [] and parse_filter(None) == []


def test_it_keeps_escaped_quotes_inside_strings():
    assert one(r"tags.note = 'it\'s'").value == "it's"
    assert one(r'tags.note = "say \"hi\""').value == 'say "hi"'


def test_positions_point_at_the_condition():
    conditions = parse_filter("metrics.a < 1 AND params.b = 'x'")
    assert [c.position for c in conditions] == [0, 18]


@pytest.mark.parametrize("text, token", [
    ("metrics.loss < 1 OR params.lr = '1'", "OR"),
    ("metrics.loss < 1 params.lr = '1'", "params"),
    ("metrics.loss << 1", "<"),
    ("metrics.loss == 1", "=="),
    ("metrics.loss <> 1", "<>"),
    ("metrics.loss < ", ""),
    ("metrics.loss", ""),
    ("metrics. < 1", "<"),
    ("params.lr = 'open", "'"),
    ("params.lr = 0.01 AND", ""),
    ("(metrics.loss < 1)", "("),
    ("params.lr IN 'a'", "'a'"),
    ("run_id IN ('a' 'b')", "'b'"),
    ("run_id IN (1, 2)", "1"),
    ("tags.t IS 'x'", "'x'"),
    ("metrics.loss ; drop table", ";"),
    ("AND metrics.loss < 1", "AND"),
])
def test_it_refuses_a_malformed_filter_and_points_at_the_token(text, token):
    with pytest.raises(FilterSyntaxError) as caught:
        parse_checked_filter(text, RUN_RULES)
    assert caught.value.token == token
    if token:
        assert text[caught.value.position:].startswith(token)
        assert f"near {token!r}" in str(caught.value)
    else:
        assert "at the end" in str(caught.value)


@pytest.mark.parametrize("text, message", [
    ("metrics.loss = 'low'", "compares with a number"),
    ("metrics.loss LIKE '1%'", "does not apply"),
    ("params.lr = 0.01", "write '0.01'"),
    ("params.lr > '1'", "does not apply"),
    ("tags.team IN ('a')", "does not apply"),
    ("attributes.colour = 'red'", "not a searchable attribute"),
    ("attributes.start_time = 'yesterday'", "compares with a number"),
    ("attributes.status IN ('FINISHED')", "does not apply"),
    ("datasets.size = 'big'", "not searchable"),
    ("metrics.loss IS NULL", "does not apply"),
])
def test_it_refuses_a_comparison_the_key_does_not_take(text, message):
    with pytest.raises(FilterSyntaxError) as caught:
        parse_checked_filter(text, RUN_RULES)
    assert message in str(caught.value)
    assert caught.value.position == 0


def test_experiment_searches_take_names_ids_times_and_tags_only():
    [condition] = parse_checked_filter("name LIKE 'rank%'", EXPERIMENT_RULES)
    assert (condition.key, condition.comparator) == ("name", "LIKE")
    assert parse_checked_filter("experiment_id IN ('1', '2')", EXPERIMENT_RULES)[0].value == (
        "1", "2")
    assert parse_checked_filter("tags.team = 'q'", EXPERIMENT_RULES)[0].kind == "tag"
    for refused in ("metrics.loss < 1", "params.lr = '1'", "status = 'RUNNING'"):
        with pytest.raises(FilterSyntaxError):
            parse_checked_filter(refused, EXPERIMENT_RULES)


@pytest.mark.parametrize("clause, expected", [
    ("metrics.loss", OrderKey("metric", "loss", True)),
    ("metrics.loss DESC", OrderKey("metric", "loss", False)),
    ("params.lr asc", OrderKey("param", "lr", True)),
    ("tags.`team name` DESC", OrderKey("tag", "team name", False)),
    ("attributes.start_time DESC", OrderKey("attribute", "start_time", False)),
    ("start_time", OrderKey("attribute", "start_time", True)),
    ("created DESC", OrderKey("attribute", "start_time", False)),
    ("attribute.run_name", OrderKey("attribute", "run_name", True)),
])
def test_it_parses_order_by_clauses(clause, expected):
    assert parse_checked_order_by(clause, RUN_RULES) == expected


@pytest.mark.parametrize("clause", [
    "metrics.loss DOWN", "", "attributes.colour", "datasets.name", "metrics.loss DESC ASC",
])
def test_it_refuses_a_bad_order_by(clause):
    with pytest.raises(FilterSyntaxError):
        parse_checked_order_by(clause, RUN_RULES)


@pytest.mark.parametrize("pattern, matches, misses", [
    ("rank%", ["ranking", "rank"], ["Ranking", "xrank"]),
    ("%lgbm%", ["a-lgbm-b", "lgbm"], ["LGBM"]),
    ("r_n", ["run", "ran"], ["rn", "ruun"]),
    ("a.b%", ["a.b", "a.bc"], ["axb"]),
    ("(x)+[y]$^|?*\\", ["(x)+[y]$^|?*\\"], ["x"]),
])
def test_like_patterns_become_anchored_regexes(pattern, matches, misses):
    regex = re.compile(like_to_regex(pattern))
    assert all(regex.search(text) for text in matches)
    assert not any(regex.search(text) for text in misses)


def test_the_grammar_module_imports_no_django():
    import ast
    import pathlib

    import mlflow_app.grammar as grammar
    import mlflow_app.shapes as shapes

    for module in (grammar, shapes):
        tree = ast.parse(pathlib.Path(module.__file__).read_text())
        names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names]
        names += [node.module or "" for node in ast.walk(tree)
                  if isinstance(node, ast.ImportFrom)]
        assert not [name for name in names if name.startswith(("django", "rest_framework"))]
