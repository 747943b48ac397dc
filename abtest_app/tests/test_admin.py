from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from abtest_app import services
from abtest_app.models import ABTest, ABTestSnapshot

pytestmark = pytest.mark.django_db

INLINES = {
    f"{prefix}-{field}": value
    for prefix in ("arm_stats", "snapshots")
    for field, value in (("TOTAL_FORMS", 0), ("INITIAL_FORMS", 0), ("MIN_NUM_FORMS", 0),
                         ("MAX_NUM_FORMS", 1000))
}


def login(client, user):
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(
        codename__in=["view_abtest", "change_abtest", "view_abtestsnapshot", "view_armstats"]))
    client.force_login(user)
    return client


def test_the_buttons_start_a_test_through_the_service(client, release_manager, make_test):
    test = make_test()
    login(client, release_manager)
    url = f"/admin/abtest_app/abtest/{test.pk}/change/"
    page = client.get(url).content
    assert b'value="start"' in page and b'value="cancel"' in page
    client.post(url, {"name": test.name, "description": "", "_fsm_transition_to": "start",
                      **INLINES})
    assert ABTest.objects.get(pk=test.pk).state == "running"


def test_the_creator_gets_no_start_button_on_a_model_in_production(client, researcher,
                                                                    make_test):
    test = make_test()
    login(client, researcher)
    url = f"/admin/abtest_app/abtest/{test.pk}/change/"
    page = client.get(url).content
    assert b'value="cancel"' in page and b'value="start"' not in page
    client.post(url, {"name": test.name, "description": "", "_fsm_transition_to": "start",
                      **INLINES})
    assert ABTest.objects.get(pk=test.pk).state == "draft"


def test_conclude_asks_for_a_reason_and_records_who(client, release_manager, running_test):
    test = running_test()
    login(client, release_manager)
    response = client.post(f"/admin/abtest_app/abtest/{test.pk}/transition/conclude/",
                           {"reason": "stopped from the admin"})
    assert response.status_code == 302
    test = ABTest.objects.get(pk=test.pk)
    assert (test.state, test.conclusion_reason, test.ended_by) == (
        "concluded", "stopped from the admin", release_manager
    )
    assert ABTestSnapshot.objects.get(test=test).kind == "manual"


def test_a_staff_member_who_may_not_manage_the_test_is_refused(client, make_user,
                                                               running_test):
    test = running_test()
    login(client, make_user("sam_stranger"))
    response = client.post(f"/admin/abtest_app/abtest/{test.pk}/transition/cancel/",
                           {"reason": "nope"}, follow=True)
    assert ABTest.objects.get(pk=test.pk).state == "running"
    assert b"only its creator or a release manager" in response.content


def test_snapshots_are_read_only(client, release_manager, running_test):
    test = running_test()
    services.abtest_evaluate(test_id=test.pk)
    snapshot = ABTestSnapshot.objects.get()
    login(client, release_manager)
    page = client.get(f"/admin/abtest_app/abtestsnapshot/{snapshot.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert client.get("/admin/abtest_app/abtestsnapshot/add/").status_code == 403
