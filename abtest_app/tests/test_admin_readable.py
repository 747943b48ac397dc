"""The A/B test page for a release manager: the latest snapshots only (the rest a link
away), numbers to four significant digits, buttons that say what they do, no Delete."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from abtest_app.admin import LATEST_SNAPSHOTS
from abtest_app.models import ABTestSnapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, release_manager):
    release_manager.is_superuser = True
    release_manager.save()
    client.force_login(release_manager)
    return client


@pytest.fixture
def test_with_snapshots(make_test):
    test = make_test()
    start = timezone.now() - timedelta(hours=2)
    ABTestSnapshot.objects.bulk_create([ABTestSnapshot(
        test=test, created_at=start + timedelta(seconds=30 * i), kind="periodic",
        method=test.method, decision="continue", champion_n=100 + i, challenger_n=90 + i,
        effect=0.012345678901234 + i, p_value=0.123456789012345, sequential_p=1.0,
        srm_p=0.98765432101234, ci_low=-0.1, ci_high=0.2) for i in range(25)])
    return test


def test_the_page_shows_the_latest_snapshots_with_rounded_numbers(admin_client,
                                                                   test_with_snapshots):
    html = admin_client.get(
        f"/admin/abtest_app/abtest/{test_with_snapshots.pk}/change/").content.decode()
    shown = sorted(int(n) for n in re.findall(
        r'<td class="field-champion_n">\s*<p>(\d+)</p>', html))
    assert len(shown) == LATEST_SNAPSHOTS
    assert shown == list(range(125 - LATEST_SNAPSHOTS, 125))  # the newest ones
    assert "0.1235" in html and "0.123456789012345" not in html
    assert "24.01" in html  # 24.012345678901234, four significant digits
    assert "25 in all" in html
    link = re.search(r'href="([^"]+\?test__exact=\d+)"', html).group(1)
    listing = admin_client.get(link)
    assert listing.status_code == 200
    assert listing.content.decode().count('class="field-p_value_rounded"') == 25


def test_the_snapshot_list_is_filtered_to_the_test_and_rounded(admin_client,
                                                              test_with_snapshots, make_test):
    other = make_test(name="other")
    ABTestSnapshot.objects.create(test=other, created_at=timezone.now(), kind="periodic",
                                  method=other.method, decision="continue", champion_n=1,
                                  challenger_n=1)
    html = admin_client.get("/admin/abtest_app/abtestsnapshot/"
                            f"?test__exact={test_with_snapshots.pk}").content.decode()
    assert html.count('class="field-p_value_rounded"') == 25
    assert "0.1235" in html and "0.123456789012345" not in html


def test_state_buttons_say_what_they_do_and_nothing_deletes(admin_client, make_test):
    test = make_test()
    html = admin_client.get(f"/admin/abtest_app/abtest/{test.pk}/change/").content.decode()
    labels = {v: " ".join(label.split()) for v, label in re.findall(
        r'name="_fsm_transition_to"\s+value="(\w+)"[^>]*>\s*([^<]+?)\s*</button>', html)}
    assert labels == {"start": "Start / resume", "cancel": "Cancel"}
    assert 'title="None"' not in html
    assert "deletelink" not in html
    page = admin_client.get(f"/admin/abtest_app/abtest/{test.pk}/transition/cancel/")
    assert "None" not in re.sub(r"<script.*?</script>", "", page.content.decode(), flags=re.S)
    assert 'value="delete_selected"' not in admin_client.get(
        "/admin/abtest_app/abtest/").content.decode()
