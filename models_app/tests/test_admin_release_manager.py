"""The admin as a release manager uses it: buttons named by target stage, the whole gate
report on a refusal, stored JSON as tables, no Delete that always fails, a rollback that
asks why, verbose app names."""

import re

import pytest

from models_app import services
from models_app.models import ModelVersion, StageTransition

pytestmark = pytest.mark.django_db


def stage(version):
    return ModelVersion.objects.get(pk=version.pk).stage


@pytest.fixture
def admin_client(client, release_manager):
    release_manager.is_superuser = True  # every admin page, as a release manager sees it
    release_manager.save()
    client.force_login(release_manager)
    return client


@pytest.fixture
def staged(register_version, release_manager):
    version = register_version(
        "1.0.0", metrics={"auc": 0.7512345678, "logloss": 0.41},
        signature={"inputs": [{"name": "momentum", "type": "double"},
                              {"name": "value", "type": "double"}]})
    services.version_transition(version=version, to="staging", actor=release_manager)
    return version


def change_page(client, version) -> str:
    response = client.get(f"/admin/models_app/modelversion/{version.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def buttons(html: str) -> dict[str, str]:
    return {value: " ".join(label.split()) for value, label in re.findall(
        r'name="_fsm_transition_to"\s+value="(\w+)"[^>]*>\s*([^<]+?)\s*</button>', html)}


def test_transition_buttons_are_named_by_the_target_stage(admin_client, staged,
                                                          register_version):
    assert buttons(change_page(admin_client, staged)) == {
        "promote": "Promote to production", "reject": "Back to draft",
        "deprecate": "Deprecate"}
    draft = register_version("1.1.0")
    assert buttons(change_page(admin_client, draft))["submit"] == "Move to staging"
    assert 'title="None"' not in change_page(admin_client, draft)


def test_the_transition_page_has_no_stray_none(admin_client, staged):
    response = admin_client.get(f"/admin/models_app/modelversion/{staged.pk}/transition/reject/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Back to draft" in html
    assert "None" not in re.sub(r"<script.*?</script>", "", html, flags=re.S)


def test_the_promotion_page_shows_the_gates_before_the_click(admin_client, staged):
    html = admin_client.get(
        f"/admin/models_app/modelversion/{staged.pk}/transition/promote/").content.decode()
    assert "Promote to production" in html
    assert "require_staging" in html and "verify_artifact" in html


def test_a_refused_promotion_shows_every_gate_with_the_failures_highlighted(
        admin_client, register_version, registered_model, release_manager):
    services.model_update(model=registered_model, actor=release_manager, gates={
        "required_metrics": ["auc", "precision"], "load_check": False,
        "thresholds": [{"metric": "auc", "op": ">=", "value": 0.9}]})
    version = register_version("1.0.0", metrics={"auc": 0.75})  # a draft: staging fails too
    response = admin_client.post(
        f"/admin/models_app/modelversion/{version.pk}/transition/promote/",
        {"reason": "skip staging"}, follow=True)
    html = response.content.decode()
    assert stage(version) == "draft"
    assert "3 of 5 gates failed" in html
    report = html[html.index('class="gate-report"'):]
    report = report[:report.index("</table>")]
    rows = re.findall(r'<tr class="gate-(passed|failed)"[^>]*><td>([^<]+)</td><td>([^<]*)</td>'
                      r"<td>([^<]*)</td>", report)
    assert {(verdict, gate) for verdict, gate, _, _ in rows} == {
        ("passed", "required_metric:auc"), ("failed", "required_metric:precision"),
        ("failed", "threshold:auc"), ("failed", "require_staging"),
        ("passed", "verify_artifact")}
    assert ("failed", "threshold:auc", "auc &gt;= 0.9", "auc = 0.75") in rows
    assert "background:#fde2e1" in report


def test_stored_json_is_shown_as_tables(admin_client, staged):
    html = change_page(admin_client, staged)
    assert '<table class="json-table"><tbody><tr><th>auc</th><td>0.7512</td></tr>' in html
    assert "<th>name</th><th>type</th>" in html  # the signature's inputs, one row each
    assert "<td>momentum</td><td>double</td>" in html
    assert '{"auc": 0.7512345678' not in html
    assert 'name="metrics"' not in html  # no raw JSON editor for a read-only field


def test_gates_are_a_table_for_whoever_may_not_edit_them(client, make_user,
                                                         registered_model):
    from django.contrib.auth.models import Permission

    viewer = make_user("vera_viewer")
    viewer.is_staff = True
    viewer.save()
    viewer.user_permissions.add(*Permission.objects.filter(
        codename__in=["view_registeredmodel", "change_registeredmodel"]))
    client.force_login(viewer)
    html = client.get(f"/admin/models_app/registeredmodel/{registered_model.pk}/change/"
                      ).content.decode()
    assert "<th>require_staging</th>" in html or "<th>load_check</th>" in html
    assert 'name="gates"' not in html


def test_no_delete_where_rows_are_protected(admin_client, staged):
    for url in (f"/admin/models_app/modelversion/{staged.pk}/change/",
                f"/admin/models_app/registeredmodel/{staged.model.pk}/change/"):
        html = admin_client.get(url).content.decode()
        assert "deletelink" not in html, url
    for url in ("/admin/models_app/modelversion/", "/admin/models_app/registeredmodel/",
                "/admin/models_app/stagetransition/"):
        assert 'value="delete_selected"' not in admin_client.get(url).content.decode(), url
    assert admin_client.get(
        f"/admin/models_app/modelversion/{staged.pk}/delete/").status_code in (302, 403)
    assert ModelVersion.objects.filter(pk=staged.pk).exists()


def test_an_admin_rollback_needs_a_reason(admin_client, register_version, release_manager):
    for number in ("1.0.0", "2.0.0"):
        version = register_version(number)
        services.version_transition(version=version, to="staging", actor=release_manager)
        services.version_promote(version=version, actor=release_manager, reason="release")
    url = "/admin/models_app/registeredmodel/"
    selected = {"action": "rollback", "_selected_action": [version.model.pk]}
    response = admin_client.post(url, {**selected, "reason": ""}, follow=True)
    assert "a reason is required" in response.content.decode()
    assert stage(version) == "production"
    admin_client.post(url, {**selected, "reason": "bad fills"})
    assert stage(version) == "archived"
    record = StageTransition.objects.get(kind="rollback")
    assert (record.reason, record.source) == ("bad fills", "admin")


def test_an_archived_version_is_promoted_again_from_the_admin(admin_client, register_version,
                                                              release_manager):
    first, second = register_version("1.0.0"), register_version("2.0.0")
    for version in (first, second):
        services.version_transition(version=version, to="staging", actor=release_manager)
        services.version_promote(version=version, actor=release_manager, reason="release")
    assert buttons(change_page(admin_client, first))["promote"] == "Promote to production"
    admin_client.post(f"/admin/models_app/modelversion/{first.pk}/transition/promote/",
                      {"reason": "roll forward"})
    assert (stage(first), stage(second)) == ("production", "archived")


def test_apps_have_names_for_people(admin_client):
    html = admin_client.get("/admin/").content.decode()
    for name in ("Model registry", "Experiments", "A/B tests", "Serving"):
        assert f">{name}<" in html, name
    for raw in ("ABTEST_APP", "EXPERIMENTS_APP", "Abtest_App"):
        assert raw not in html
