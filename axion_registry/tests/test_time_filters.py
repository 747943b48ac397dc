"""Every time the API accepts is one the database can compare: offsets normalized to UTC."""

from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from axion_registry.filters import UnrepresentableTime, as_utc

pytestmark = pytest.mark.django_db

FAR_WEST = timezone(-timedelta(hours=23, minutes=45))


def in_far_west(moment: datetime) -> str:
    return quote(moment.astimezone(FAR_WEST).isoformat())


def test_as_utc_keeps_the_instant_and_drops_the_offset():
    moment = datetime(2026, 1, 1, 0, 0, tzinfo=FAR_WEST)
    assert as_utc(moment) == moment
    assert as_utc(moment).utcoffset() == timedelta(0)


def test_as_utc_refuses_a_time_utc_cannot_hold():
    with pytest.raises(UnrepresentableTime, match="years 1 and 9999"):
        as_utc(datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=1))))


@pytest.mark.parametrize("path", [
    "/api/v1/versions/?created_after={t}",
    "/api/v1/transitions/?after={t}",
    "/api/v1/runs/?started_after={t}",
    "/api/v1/deployments/?since={t}",
])
def test_a_large_utc_offset_filters_by_the_same_instant(api, register_version, path):
    from experiments_app.services import run_create
    from models_app.services import version_transition

    version_transition(version=register_version("1.0.0"), to="staging", actor=api.user)
    run_create(experiment="offsets", user=api.user)
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    far_west = api.get(path.format(t=in_far_west(hour_ago)))
    in_utc = api.get(path.format(t=quote(hour_ago.isoformat())))
    assert far_west.status_code == 200, far_west.content
    assert far_west.json()["results"] == in_utc.json()["results"]
    assert far_west.json()["results"] or "deployments" in path  # nothing deployed here
    later = api.get(path.format(t=in_far_west(hour_ago + timedelta(hours=2))))
    assert later.status_code == 200
    assert later.json()["results"] == []


@pytest.mark.parametrize("path", [
    "/api/v1/versions/?created_before={t}",
    "/api/v1/transitions/?before={t}",
    "/api/v1/runs/?started_before={t}",
    "/api/v1/deployments/?since={t}",
    "/api/v1/models/ranking/production-at/?at={t}",
])
def test_a_time_before_year_one_in_utc_is_a_400(api, registered_model, path):
    response = api.get(path.format(t=quote("0001-01-01T00:00:00+01:00")))
    assert response.status_code == 400
    assert "years 1 and 9999" in str(response.json())


def test_production_at_with_a_large_offset_answers(api, registered_model):
    at = in_far_west(datetime.now(UTC))
    response = api.get(f"/api/v1/models/ranking/production-at/?at={at}")
    assert response.status_code == 200
    assert response.json()["version"] is None
