"""The batch path on PostgreSQL: what COPY stores, how many statements a batch costs, and
when a logging transaction may commit without waiting for the WAL flush."""

import math

import numpy as np
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings

from experiments_app import services
from experiments_app.models import LatestMetric, Metric

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RELAXED = "SET LOCAL synchronous_commit TO off"


@pytest.fixture
def run(researcher):
    return services.run_create(experiment="ingestion", user=researcher)


def _batch(run, points, researcher):
    return services.batch_log(run_id=run.run_id, actor=researcher, body={"metrics": [
        {"key": key, "value": value, "step": step, "timestamp": 1_000 + step}
        for key, value, step in points]})


def test_copied_points_read_back_exactly_with_odd_keys_and_non_finite_values(run, researcher):
    points = [("val/loss a.b-c_d", 0.1, 0), ("val/loss a.b-c_d", math.inf, 1),
              ("val/loss a.b-c_d", -math.inf, 2), ("auc", "NaN", 0),
              ("auc", np.float64(-1.1), 1), ("auc", 1e-310, 2), ("auc", -0.0, 3)]
    _batch(run, points, researcher)
    stored = list(Metric.objects.filter(run=run).order_by("id").values_list(
        "key", "value", "is_nan", "step", "timestamp"))
    assert [(k, s) for k, _, _, s, _ in stored] == [(k, s) for k, _, s in points]
    assert stored[1][1] == math.inf and stored[2][1] == -math.inf
    assert stored[3][2] is True
    assert stored[4][1] == -1.1 and stored[5][1] == 1e-310
    assert math.copysign(1, stored[6][1]) == -1
    assert LatestMetric.objects.get(run=run, key="auc").value == -0.0


def test_copied_points_keep_their_order_across_interleaved_keys_of_several_lengths(
        run, researcher):
    """The COPY stream is built per key length (experiments_app.point_copy); ids still follow
    the order the points were sent in, and a multi-byte key is stored as sent."""
    keys = ["a", "größe/ü", "val/loss", "a", "val/loss", "größe/ü", "a"]
    steps = [0, -(2**62), 2**62, 1, -5, 7, 2]
    points = [(key, float(number) / 3, step)
              for number, (key, step) in enumerate(zip(keys, steps, strict=True))]
    _batch(run, points, researcher)
    stored = list(Metric.objects.filter(run=run).order_by("id").values_list(
        "key", "value", "is_nan", "step", "timestamp"))
    assert stored == [(key, value, False, step, 1_000 + step) for key, value, step in points]
    latest = dict(LatestMetric.objects.filter(run=run).values_list("key", "step"))
    assert latest == {"a": 2, "größe/ü": 7, "val/loss": 2**62}


def test_a_batch_of_a_thousand_points_is_five_statements(run, researcher):
    _batch(run, [("warm", 1.0, 0)], researcher)  # the id sequence's name, once per process
    points = [(f"k{i % 10}", i / 7, i) for i in range(1000)]
    with CaptureQueriesContext(connection) as queries:
        _batch(run, points, researcher)
    # run lock, ids, pyramid upsert, latest values upsert; the COPY goes through the driver's
    # own cursor, which Django does not record
    statements = [q["sql"] for q in queries.captured_queries
                  if q["sql"] not in ("BEGIN", "COMMIT")]
    assert len(statements) == 4, [sql[:80] for sql in statements]
    assert "nextval" in statements[1]
    assert Metric.objects.filter(run=run).count() == 1001


def _logged_sql(run, researcher, step):
    with CaptureQueriesContext(connection) as queries:
        _batch(run, [("loss", 0.5, step)], researcher)
    return [q["sql"] for q in queries.captured_queries]


def test_synchronous_commit_is_kept_by_default(run, researcher):
    assert RELAXED not in _logged_sql(run, researcher, 0)


@override_settings(METRIC_SYNCHRONOUS_COMMIT=False)
def test_relaxed_commit_applies_to_a_logging_transaction_of_its_own_only(run, researcher):
    assert RELAXED in _logged_sql(run, researcher, 0)
    with transaction.atomic():
        assert RELAXED not in _logged_sql(run, researcher, 1)
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"
    assert Metric.objects.filter(run=run).count() == 2
