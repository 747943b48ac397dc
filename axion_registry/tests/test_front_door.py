"""`/` and `/api/v1/` say where everything is (a page for browsers, JSON for clients), the
admin's "View site" leads there, and Swagger groups operations by resource."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_the_front_door_is_a_page_for_a_browser(client, settings):
    settings.DASHBOARD_URL = "http://dash.example:8501/"
    response = client.get("/", HTTP_ACCEPT=BROWSER)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    for href in ("/api/v1/", "/api/docs/", "/admin/", "http://dash.example:8501/"):
        assert f'href="{href}"' in html or f'href="http://testserver{href}"' in html, href


def test_the_front_door_is_json_for_an_api_client(client):
    for accept in ("application/json", "*/*"):
        response = client.get("/", HTTP_ACCEPT=accept)
        assert response.status_code == 200
        links = response.json()["links"]
        assert links["api"] == "http://testserver/api/v1/"
        assert links["docs"] == "http://testserver/api/docs/"
        assert links["admin"] == "http://testserver/admin/"
        assert links["dashboard"] == "http://127.0.0.1:8501"


def test_the_api_root_lists_the_resources(client, anon_api):
    body = anon_api.get("/api/v1/").json()  # open: it holds links, no data
    assert body["resources"]["models"] == "http://testserver/api/v1/models/"
    assert body["resources"]["abtests"] == "http://testserver/api/v1/abtests/"
    assert body["resources"]["runs"] == "http://testserver/api/v1/runs/"
    assert body["links"]["docs"] == "http://testserver/api/docs/"
    page = client.get("/api/v1/", HTTP_ACCEPT=BROWSER)
    assert page["Content-Type"].startswith("text/html")
    assert "http://testserver/api/v1/experiments/" in page.content.decode()
    assert client.get("/api/v1/?format=json").json()["resources"]["me"].endswith("/api/v1/me/")


def test_the_front_door_changes_nothing(anon_api):
    assert anon_api.post("/", {}, format="json").status_code == 405
    assert anon_api.post("/api/v1/", {}, format="json").status_code == 405


def test_the_admins_view_site_link_goes_to_the_front_door(client, django_user_model):
    user = django_user_model.objects.create_superuser("ada", password="pw")
    client.force_login(user)
    html = client.get("/admin/").content.decode()
    assert 'href="/">View site</a>' in html.replace("\n", "")
    assert client.get("/", HTTP_ACCEPT=BROWSER).status_code == 200


def test_every_operation_has_a_resource_tag_and_a_summary():
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json",
                 stdout=out)
    schema = json.loads(out.getvalue())
    declared = {tag["name"] for tag in schema["tags"]}
    operations = [(path, op) for path, ops in schema["paths"].items()
                  for op in ops.values() if isinstance(op, dict) and "operationId" in op]
    assert len(operations) > 50
    for path, operation in operations:
        assert operation["tags"] and set(operation["tags"]) <= declared, path
        assert operation.get("summary"), (path, operation["operationId"])
        assert "DRF" not in operation.get("description", ""), path
    tags = {path: op["tags"][0] for path, op in operations}
    assert tags["/api/v1/models/{name}/rollback/"] == "lifecycle"
    assert tags["/api/v1/abtests/"] == "A/B tests"
    assert tags["/api/v1/runs/{run_id}/log-batch/"] == "metrics"
    assert len(set(tags.values())) >= 10


def test_streamlit_hides_its_deploy_button_where_make_run_starts_it():
    """scripts/run.py starts streamlit through scripts/supervise.py, whose processes run in
    the repository root, which is where streamlit reads this file."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / ".streamlit" / "config.toml").read_text())
    assert config["client"]["toolbarMode"] == "minimal"
    assert '"streamlit"' in (root / "scripts" / "run.py").read_text()
    supervise = (root / "scripts" / "supervise.py").read_text()
    assert "subprocess.Popen(" in supervise and "command, cwd=ROOT" in supervise
