import json

import pytest

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_validates():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json",
                 stdout=out)
    schema = json.loads(out.getvalue())
    assert "/api/v1/models/{model_name}/versions/" in schema["paths"]


def test_swagger_ui_is_served_without_a_cdn(api):
    response = api.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html and "cdn" not in html.lower()
