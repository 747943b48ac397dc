"""JSON in and out with orjson, for the hot logging and history paths.

In: orjson first; a body it refuses is tried with the standard library, which also reads
the bare NaN, Infinity and -Infinity tokens that Python's json.dumps writes.
Out: orjson. Metric values are turned into "NaN" / "Infinity" / "-Infinity" strings by the
selectors before they get here (orjson would write null).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson
from django.utils.functional import Promise
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer


class FastJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        raw = stream.read()
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc


def _default(value: Any) -> Any:
    if isinstance(value, (Promise, Decimal)):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class FastJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data, default=_default)
