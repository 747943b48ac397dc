"""Serving's list parameters: deployments and per-minute latency, through their FilterSets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from serving_app.filtersets import DeploymentEventFilterSet, LatencyMinuteFilterSet
from serving_app.models import DeploymentEvent, LatencyMinute
from serving_app.tests.mock_models import ConstantModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def minutes(deploy):
    version = deploy(ConstantModel(1.0), "1.0.0")
    now = timezone.now().replace(second=0, microsecond=0)
    for ago in (1, 30, 90, 60 * 24 * 40):
        LatencyMinute.objects.create(model=version.model, version=version,
                                     minute=now - timedelta(minutes=ago), count=1)
    return version


def test_latency_is_the_last_hour_unless_asked(minutes):
    rows = LatencyMinuteFilterSet({}, LatencyMinute.objects.all())
    assert rows.is_valid() and rows.qs.count() == 2
    assert LatencyMinuteFilterSet({"minutes": "120"}, LatencyMinute.objects.all()).qs.count() == 3
    assert LatencyMinuteFilterSet({"minutes": ""}, LatencyMinute.objects.all()).qs.count() == 2


@pytest.mark.parametrize("value", ["abc", "1.5", "0", "-3", "44641"])
def test_latency_minutes_outside_one_to_31_days_are_refused(value):
    assert not LatencyMinuteFilterSet({"minutes": value}, LatencyMinute.objects.all()).is_valid()


@pytest.mark.parametrize("value", ["abc", "0", "99999"])
def test_a_bad_minutes_is_a_400_in_the_projects_shape(runtime, minutes, api, value):
    response = api.get(f"/api/v1/serve/ranking/latency/?minutes={value}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and body["message"].startswith("minutes: ")
    assert "minutes" in body["details"]


def test_latency_minutes_widen_the_window(runtime, minutes, api):
    assert len(api.get("/api/v1/serve/ranking/latency/").json()) == 2
    assert len(api.get("/api/v1/serve/ranking/latency/?minutes=44640").json()) == 3


def test_deployments_filter_by_model_kind_and_time(deploy):
    version = deploy(ConstantModel(1.0), "1.0.0")
    events = DeploymentEvent.objects.all()
    assert DeploymentEventFilterSet({"model": "ranking"}, events).qs.count() == events.count()
    assert DeploymentEventFilterSet({"model": "other"}, events).qs.count() == 0
    promoted = DeploymentEventFilterSet({"kind": ["promote"], "version": "1.0.0"}, events).qs
    assert [e.version_id for e in promoted] == [version.pk] * promoted.count()
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    assert DeploymentEventFilterSet({"since": later}, events).qs.count() == 0


@pytest.mark.parametrize("query", ["kind=sideways", "warmup_status=lukewarm",
                                   "since=yesterday"])
def test_a_bad_deployment_filter_is_a_400_in_the_projects_shape(api, query):
    response = api.get(f"/api/v1/deployments/?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and body["message"] and body["details"]
