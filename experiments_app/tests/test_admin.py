"""The read-mostly admin: pages render, runs cannot be added, changed or deleted there."""

import pytest

from experiments_app import services
from experiments_app.models import Experiment

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_web(client, make_user):
    client.force_login(make_user("root", superuser=True))
    return client


def test_admin_pages_render_and_runs_are_read_only(admin_web, researcher):
    run = services.run_create(experiment="admin-exp", user=researcher, params={"lr": "0.1"})
    services.metric_log(run_id=run.run_id, key="auc", value="NaN")
    experiment = Experiment.objects.get(name="admin-exp")
    for url in ("/admin/experiments_app/experiment/", "/admin/experiments_app/run/",
                f"/admin/experiments_app/run/{run.pk}/change/",
                f"/admin/experiments_app/experiment/{experiment.pk}/change/"):
        assert admin_web.get(url).status_code == 200, url
    page = admin_web.get(f"/admin/experiments_app/run/{run.pk}/change/").content.decode()
    assert "lr" in page and "nan" in page.lower()
    assert admin_web.get("/admin/experiments_app/run/add/").status_code == 403
    assert admin_web.post(f"/admin/experiments_app/run/{run.pk}/delete/").status_code == 403


def test_archiving_in_the_admin_goes_through_the_service(admin_web):
    experiment = services.experiment_create(name="to-archive")
    response = admin_web.post(
        f"/admin/experiments_app/experiment/{experiment.pk}/change/",
        {"description": "done", "tags": "{}", "archived": "on"},
    )
    assert response.status_code == 302
    experiment.refresh_from_db()
    assert experiment.archived and experiment.description == "done"
