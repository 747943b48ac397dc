"""Query parameters of the A/B tests' non-list endpoints (the list uses filtersets.py;
sample-size's are serializers.SampleSizeQuerySerializer)."""

from __future__ import annotations

from rest_framework import serializers

UNIT_ID = "give ?unit_id= (1 to 200 characters)."


class AssignQuery(serializers.Serializer):
    unit_id = serializers.CharField(
        max_length=200, trim_whitespace=False,
        help_text="The unit (user, symbol, ...) to assign.",
        error_messages={"required": UNIT_ID, "blank": UNIT_ID, "max_length": UNIT_ID},
    )
