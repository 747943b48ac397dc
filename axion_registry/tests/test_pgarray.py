"""Array literals read back by PostgreSQL as the values sent."""

import math

import numpy as np
import pytest
from django.db import connection

from axion_registry.pgarray import array_literal

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _round_trip(values, kind, cast):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT %s::{cast}[]", [array_literal(values, kind)])
        return cursor.fetchone()[0]


@pytest.mark.parametrize("values", [
    ["a", "b c", "x/y.z-1"], ['quote"d', "back\\slash", "", None, "{braces},comma", "NULL"],
    [], ['{"k": [1, 2]}', None],
])
def test_text_arrays_read_back_as_sent(values):
    assert _round_trip(values, "text", "text") == values


def test_float_arrays_read_back_exactly():
    values = [0.1, -0.0, 1e-310, math.inf, -math.inf, np.float64(-1.1), 3, None, 2 / 3]
    back = _round_trip(values, "float", "float8")
    assert back[:7] == [0.1, -0.0, 1e-310, math.inf, -math.inf, -1.1, 3.0]
    assert back[7] is None and back[8] == 2 / 3
    assert math.isnan(_round_trip([math.nan], "float", "float8")[0])


def test_boolean_and_integer_arrays_read_back_as_sent():
    assert _round_trip([True, False, None], "boolean", "boolean") == [True, False, None]
    assert _round_trip([1, np.int64(2**40), None], "integer", "bigint") == [1, 2**40, None]


def test_finite_float_arrays_read_back_exactly_bit_for_bit():
    rng = np.random.default_rng(5)
    bits = rng.integers(0, 2**63, size=5000, dtype=np.uint64) | rng.integers(0, 2, 5000,
                                                                             dtype=np.uint64) << 63
    values = [v for v in bits.view(np.float64).tolist() if math.isfinite(v)]
    values += [5e-324, 1.7976931348623157e308, 1e16, 123456789012345680.0, -0.0, 0.0, None, 7]
    back = _round_trip(values, "float", "float8")
    assert [None if v is None else float(v).hex() for v in values] == [
        None if v is None else v.hex() for v in back
    ]
