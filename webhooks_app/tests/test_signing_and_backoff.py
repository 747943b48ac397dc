"""The signature is MLflow's own, byte for byte; backoff grows, is capped and jittered."""

from __future__ import annotations

import pytest
from mlflow.webhooks.delivery import _generate_hmac_signature

from webhooks_app.signing import headers, retry_delay, signature, signature_valid


def test_the_signature_matches_mlflows_own_implementation():
    body = '{"entity": "model_version", "action": "created", "data": {"name": "r"}}'
    ours = signature("key", "0c7e-delivery", "1764650000", body)
    assert ours == _generate_hmac_signature("key", "0c7e-delivery", "1764650000", body)
    assert ours.startswith("v1,")


def test_a_receiver_refuses_a_changed_body_or_timestamp():
    body = '{"a": 1}'
    sent = signature("key", "id", "100", body)
    assert signature_valid("key", "id", "100", body, sent)
    assert not signature_valid("key", "id", "101", body, sent)
    assert not signature_valid("key", "id", "100", '{"a": 2}', sent)
    assert not signature_valid("other", "id", "100", body, sent)


def test_headers_carry_the_delivery_id_and_timestamp_and_sign_only_with_a_secret():
    signed = headers(delivery_id="d1", timestamp=100, body="{}", secret="k")
    assert signed["X-MLflow-Delivery-Id"] == "d1" and signed["X-MLflow-Timestamp"] == "100"
    assert signed["X-MLflow-Signature"] == signature("k", "d1", "100", "{}")
    assert "X-MLflow-Signature" not in headers(delivery_id="d1", timestamp=100, body="{}",
                                               secret="")


@pytest.mark.parametrize("attempts, low, high", [(1, 5, 10), (2, 10, 20), (3, 20, 40),
                                                 (10, 30, 60)])
def test_backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half(attempts, low, high):
    assert retry_delay(attempts, base=10, cap=60, draw=lambda: 0.0) == low
    assert retry_delay(attempts, base=10, cap=60, draw=lambda: 1.0) == high
    assert low <= retry_delay(attempts, base=10, cap=60) <= high
