"""JSON in, for the whole API: orjson first (outcome and metric batches parse several times
faster); a body it refuses is tried with the standard library, which also reads the bare
NaN, Infinity and -Infinity tokens that Python's json.dumps writes. Anything neither reads
(including nesting too deep to parse) is a 400."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, Any

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class ORJSONParser(JSONParser):
    def parse(self, stream: IO[Any] | None, media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        raw = stream.read() if stream is not None else b""
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"The body is not valid JSON: {str(exc)[:200]}") from exc
