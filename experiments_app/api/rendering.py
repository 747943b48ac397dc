"""JSON in with orjson, for the hot logging paths (out: axion_registry.renderers).

orjson first; a body it refuses is tried with the standard library, which also reads the
bare NaN, Infinity and -Infinity tokens that Python's json.dumps writes. On the way out,
metric values are turned into "NaN" / "Infinity" / "-Infinity" strings by the selectors
(orjson would write null).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


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
