"""What a delivery carries and when a failed one is tried again. No Django.

The signature is MLflow's (after Standard Webhooks): `v1,<base64 HMAC-SHA256>` over
`<delivery id>.<unix timestamp>.<body>`, keyed by the webhook's secret, in the header
X-MLflow-Signature beside X-MLflow-Delivery-Id and X-MLflow-Timestamp. A receiver
recomputes it and refuses a stale timestamp to stop replays.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from collections.abc import Callable

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"


def signature(secret: str, delivery_id: str, timestamp: str, body: str) -> str:
    signed = f"{delivery_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signature_valid(secret: str, delivery_id: str, timestamp: str, body: str,
                    header: str) -> bool:
    """What a receiver checks (constant-time)."""
    return hmac.compare_digest(signature(secret, delivery_id, timestamp, body), header)


def headers(*, delivery_id: str, timestamp: int, body: str, secret: str) -> dict[str, str]:
    sent = {
        "Content-Type": "application/json",
        DELIVERY_ID_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        "User-Agent": "axion-registry-webhooks/1",
    }
    if secret:
        sent[SIGNATURE_HEADER] = signature(secret, delivery_id, str(timestamp), body)
    return sent


def retry_delay(attempts: int, *, base: float, cap: float,
                draw: Callable[[], float] = random.random) -> float:
    """Seconds before the next try after `attempts` failed ones: exponential from `base`,
    capped at `cap`, the upper half jittered so that failed receivers are not retried in
    lockstep."""
    ceiling = min(cap, base * 2 ** max(attempts - 1, 0))
    return ceiling / 2 + draw() * ceiling / 2
