from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from models_app import selectors, services
from models_app.errors import (
    GateRefused,
    PromotionNotPermitted,
    RollbackRefused,
    TransitionRefused,
)
from models_app.models import ModelVersion, StageTransition
from models_app.signals import version_deployed

pytestmark = pytest.mark.django_db


def stage_of(version):
    return ModelVersion.objects.get(pk=version.pk).stage


def to_staging(version, actor):
    services.version_transition(version=version, to="staging", actor=actor)


def promote(version, actor, **kwargs):
    if stage_of(version) == "draft":
        to_staging(version, actor)
    return services.version_promote(version=ModelVersion.objects.get(pk=version.pk), actor=actor,
                                    **kwargs)


class TestTransitions:
    @pytest.mark.parametrize(
        ("path", "allowed"),
        [
            (["staging"], True),
            (["deprecated"], True),
            (["staging", "draft"], True),
            (["staging", "deprecated"], True),
            (["archived"], False),
            (["draft"], False),
            (["staging", "archived"], False),
            (["deprecated", "staging"], False),
            (["deprecated", "draft"], False),
        ],
    )
    def test_moves_are_allowed_or_refused(self, register_version, release_manager, path,
                                          allowed):
        version = register_version("1.0.0")
        *before, last = path
        for stage in before:
            services.version_transition(version=version, to=stage, actor=release_manager)
        if allowed:
            services.version_transition(version=version, to=last, actor=release_manager)
            assert stage_of(version) == last
        else:
            with pytest.raises(TransitionRefused):
                services.version_transition(version=version, to=last, actor=release_manager)

    def test_production_to_archived_and_archived_to_deprecated(self, register_version,
                                                                release_manager):
        version = register_version("1.0.0")
        promote(version, release_manager)
        services.version_transition(version=version, to="archived", actor=release_manager)
        services.version_transition(version=version, to="deprecated", actor=release_manager)
        assert stage_of(version) == "deprecated"

    def test_archived_goes_back_to_production_by_rollback_or_through_the_gates(
            self, register_version, release_manager):
        old, new = register_version("1.0.0"), register_version("2.0.0")
        promote(old, release_manager)
        promote(new, release_manager)
        record = services.version_transition(version=old, to="production",
                                             actor=release_manager, reason="roll forward")
        assert (record.kind, record.from_stage) == ("promote", "archived")
        assert record.gate_report  # the gates ran, unlike a rollback's
        assert (stage_of(old), stage_of(new)) == ("production", "archived")
        services.model_rollback(model=old.model, actor=release_manager)
        assert (stage_of(old), stage_of(new)) == ("archived", "production")

    def test_the_stage_cannot_be_set_directly(self, register_version):
        version = register_version("1.0.0")
        with pytest.raises(AttributeError):
            version.stage = "production"

    def test_a_refusal_says_where_the_version_may_go(self, register_version, release_manager):
        version = register_version("1.0.0")
        with pytest.raises(TransitionRefused) as error:
            services.version_transition(version=version, to="archived", actor=release_manager)
        assert "deprecated, production, staging" in error.value.message


class TestPromotion:
    def test_promotion_archives_the_previous_production_version(self, register_version,
                                                                 release_manager):
        first, second = register_version("1.0.0"), register_version("1.1.0")
        promote(first, release_manager)
        promote(second, release_manager, reason="better auc")
        assert (stage_of(first), stage_of(second)) == ("archived", "production")
        kinds = list(StageTransition.objects.order_by("id").values_list(
            "version__version", "kind", "from_stage", "to_stage"))
        assert kinds[-2:] == [("1.0.0", "archive", "production", "archived"),
                              ("1.1.0", "promote", "staging", "production")]

    def test_one_production_version_is_enforced_by_the_database(self, register_version,
                                                                 release_manager):
        from django.db import IntegrityError

        first, second = register_version("1.0.0"), register_version("1.1.0")
        promote(first, release_manager)
        with pytest.raises(IntegrityError), transaction.atomic():
            ModelVersion.objects.filter(pk=second.pk).update(stage="production")

    def test_a_user_without_the_permission_cannot_promote(self, register_version, researcher):
        version = register_version("1.0.0")
        to_staging(version, researcher)
        with pytest.raises(PromotionNotPermitted, match="promote_modelversion"):
            services.version_promote(version=version, actor=researcher)
        assert stage_of(version) == "staging"

    def test_an_anonymous_actor_cannot_promote(self, register_version):
        from django.contrib.auth.models import AnonymousUser

        version = register_version("1.0.0")
        with pytest.raises(PromotionNotPermitted):
            services.version_promote(version=version, actor=AnonymousUser())


class TestGates:
    def configure(self, model, **gates):
        gates.setdefault("load_check", False)  # tests/test_load_check.py covers it
        services.model_update(model=model, gates=gates,
                              metric_directions={"rmse": "lower", "auc": "higher"})

    def refusal(self, version, actor):
        with pytest.raises(GateRefused) as error:
            promote(version, actor)
        return {g["gate"]: g for g in error.value.details["gate_report"]}

    def test_required_metrics_must_be_present_and_finite(self, register_version,
                                                         registered_model, release_manager):
        self.configure(registered_model, required_metrics=["auc", "sharpe"])
        report = self.refusal(register_version("1.0.0", metrics={"auc": 0.8}), release_manager)
        assert report["required_metric:auc"]["passed"] is True
        assert report["required_metric:sharpe"] == {
            "gate": "required_metric:sharpe", "passed": False, "wanted": "present and finite",
            "got": "missing"}

    def test_thresholds_in_both_directions(self, register_version, registered_model,
                                           release_manager):
        self.configure(registered_model, thresholds=[
            {"metric": "auc", "op": ">=", "value": 0.70},
            {"metric": "rmse", "op": "<=", "value": 0.05}])
        report = self.refusal(register_version("1.0.0", metrics={"auc": 0.72, "rmse": 0.08}),
                              release_manager)
        assert report["threshold:auc"]["passed"] is True
        assert report["threshold:rmse"] == {"gate": "threshold:rmse", "passed": False,
                                            "wanted": "rmse <= 0.05", "got": "rmse = 0.08"}
        good = register_version("1.1.0", metrics={"auc": 0.72, "rmse": 0.04})
        record = promote(good, release_manager)
        assert all(g["passed"] for g in record.gate_report)

    def test_staging_is_required_first_unless_switched_off(self, register_version,
                                                           registered_model, release_manager):
        version = register_version("1.0.0")
        with pytest.raises(GateRefused) as error:
            services.version_promote(version=version, actor=release_manager)
        assert {"gate": "require_staging", "passed": False, "wanted": "from staging",
                "got": "draft"} in error.value.details["gate_report"]
        self.configure(registered_model, require_staging=False)
        services.version_promote(version=version, actor=release_manager)
        assert stage_of(version) == "production"

    def test_a_tampered_artifact_is_refused(self, register_version, release_manager,
                                            artifact_root):
        version = register_version("1.0.0")
        (artifact_root / version.artifact_path).write_bytes(b"tampered")
        report = self.refusal(version, release_manager)
        assert report["verify_artifact"]["passed"] is False
        assert report["verify_artifact"]["got"] == "missing or changed"

    def test_not_worse_than_production_uses_the_direction(self, register_version,
                                                          registered_model, release_manager):
        self.configure(registered_model, not_worse_than_production=["auc", "rmse"])
        promote(register_version("1.0.0", metrics={"auc": 0.75, "rmse": 0.05}), release_manager)
        report = self.refusal(register_version("1.1.0", metrics={"auc": 0.80, "rmse": 0.06}),
                              release_manager)
        assert report["not_worse_than_production:auc"]["passed"] is True
        assert report["not_worse_than_production:rmse"]["passed"] is False
        assert report["not_worse_than_production:rmse"]["wanted"] == "rmse <= 0.05 (production)"
        promote(register_version("1.2.0", metrics={"auc": 0.76, "rmse": 0.04}), release_manager)

    def test_bad_gate_configuration_is_refused(self, registered_model):
        from models_app.errors import InvalidMetadata

        with pytest.raises(InvalidMetadata, match="op"):
            services.model_update(model=registered_model,
                                  gates={"thresholds": [{"metric": "auc", "op": "~", "value": 1}]})
        with pytest.raises(InvalidMetadata, match="Unknown gate"):
            services.model_update(model=registered_model, gates={"vibes": True})


class TestRollback:
    def test_rollback_walks_back_and_never_bounces(self, register_version, release_manager):
        versions = [register_version(v) for v in ("1.0.0", "2.0.0", "3.0.0")]
        for version in versions:
            promote(version, release_manager)
        model = versions[0].model
        assert services.model_rollback(model=model, actor=release_manager).version.version == (
            "2.0.0")
        assert services.model_rollback(model=model, actor=release_manager).version.version == (
            "1.0.0")
        assert [stage_of(v) for v in versions] == ["production", "archived", "archived"]
        with pytest.raises(RollbackRefused, match="no earlier production version"):
            services.model_rollback(model=model, actor=release_manager)

    def test_a_promotion_after_a_rollback_starts_a_new_branch(self, register_version,
                                                              release_manager):
        one, two, three = (register_version(v) for v in ("1.0.0", "2.0.0", "3.0.0"))
        promote(one, release_manager)
        promote(two, release_manager)
        services.model_rollback(model=one.model, actor=release_manager)  # back to 1.0.0
        promote(three, release_manager)
        assert services.model_rollback(model=one.model, actor=release_manager).version == one

    def test_rollback_skips_deprecated_versions(self, register_version, release_manager):
        one, two, three = (register_version(v) for v in ("1.0.0", "2.0.0", "3.0.0"))
        for version in (one, two, three):
            promote(version, release_manager)
        services.version_transition(version=two, to="deprecated", actor=release_manager)
        assert services.model_rollback(model=one.model, actor=release_manager).version == one

    def test_no_production_version_or_no_earlier_one_is_a_clear_refusal(
            self, register_version, registered_model, release_manager):
        with pytest.raises(RollbackRefused, match="no production version"):
            services.model_rollback(model=registered_model, actor=release_manager)
        promote(register_version("1.0.0"), release_manager)
        with pytest.raises(RollbackRefused, match="no earlier production version"):
            services.model_rollback(model=registered_model, actor=release_manager)

    def test_rollback_skips_metric_gates_but_checks_the_artifact(
            self, register_version, registered_model, release_manager, artifact_root):
        one, two = register_version("1.0.0", metrics={"auc": 0.6}), register_version("2.0.0")
        promote(one, release_manager)
        promote(two, release_manager)
        services.model_update(model=registered_model,
                              gates={"thresholds": [{"metric": "auc", "op": ">=", "value": 0.7}]})
        (artifact_root / one.artifact_path).write_bytes(b"corrupted")
        with pytest.raises(RollbackRefused) as error:
            services.model_rollback(model=registered_model, actor=release_manager)
        assert error.value.code == "artifact_corrupted"
        assert stage_of(two) == "production"

    def test_rollback_needs_the_permission(self, register_version, release_manager, researcher):
        promote(register_version("1.0.0"), release_manager)
        with pytest.raises(PromotionNotPermitted):
            services.model_rollback(model=ModelVersion.objects.get().model, actor=researcher)


class TestAudit:
    def test_every_move_is_recorded_with_who_why_and_the_gate_report(
            self, register_version, release_manager, researcher):
        version = register_version("1.0.0")
        services.version_transition(version=version, to="staging", actor=researcher,
                                    reason="ready for review")
        services.version_promote(version=version, actor=release_manager, reason="ship it")
        rows = StageTransition.objects.order_by("id")
        assert [(r.kind, r.from_stage, r.to_stage, r.actor.username, r.reason) for r in rows] == [
            ("submit", "draft", "staging", "rita_researcher", "ready for review"),
            ("promote", "staging", "production", "max_release", "ship it"),
        ]
        assert {g["gate"] for g in rows[1].gate_report} == {"require_staging", "verify_artifact"}

    def test_a_refused_move_leaves_no_audit_row(self, register_version, release_manager):
        version = register_version("1.0.0")
        with pytest.raises(GateRefused):
            services.version_promote(version=version, actor=release_manager)
        assert not StageTransition.objects.exists()

    def test_which_version_was_in_production_at_a_time(self, register_version, registered_model,
                                                       release_manager):
        one, two = register_version("1.0.0"), register_version("2.0.0")
        t0 = timezone.now()
        promote(one, release_manager)
        t1 = timezone.now()
        promote(two, release_manager)
        t2 = timezone.now()
        services.model_rollback(model=registered_model, actor=release_manager)
        t3 = timezone.now()
        services.version_transition(version=one, to="archived", actor=release_manager)
        t4 = timezone.now()

        def at(t):
            found = selectors.version_in_production_at(model=registered_model, at=t)
            return found.version if found else None

        assert [at(t) for t in (t0, t1, t2, t3, t4)] == [None, "1.0.0", "2.0.0", "1.0.0", None]

    def test_the_transitions_endpoint_filters(self, api, manager_api, register_version,
                                              release_manager):
        one = register_version("1.0.0")
        promote(one, release_manager)
        register_version("1.1.0", model_name="ranking")
        body = api.get("/api/v1/transitions/?model=ranking&actor=max_release&kind=promote").json()
        assert [(r["version"], r["to_stage"]) for r in body["results"]] == [
            ("1.0.0", "production")]
        later = (timezone.now() + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
        assert api.get(f"/api/v1/transitions/?after={later}").json()["count"] == 0

    def test_the_production_at_endpoint(self, api, register_version, release_manager):
        promote(register_version("1.0.0"), release_manager)
        now = timezone.now().isoformat().replace("+00:00", "Z")
        body = api.get(f"/api/v1/models/ranking/production-at/?at={now}").json()
        assert body["version"] == "1.0.0"
        assert api.get("/api/v1/models/ranking/production-at/?at=yesterday").status_code == 400


class TestAnnouncements:
    @pytest.fixture
    def announced(self):
        seen = []

        def receiver(sender, **kwargs):
            seen.append((kwargs["model_name"], kwargs["version"], kwargs["kind"]))

        version_deployed.connect(receiver, weak=False)
        yield seen
        version_deployed.disconnect(receiver)

    def test_promotion_and_rollback_are_announced_after_commit(
            self, register_version, release_manager, announced,
            django_capture_on_commit_callbacks):
        one, two = register_version("1.0.0"), register_version("2.0.0")
        to_staging(one, release_manager)
        to_staging(two, release_manager)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            services.version_promote(version=one, actor=release_manager)
        assert announced == []  # nothing before commit
        for callback in callbacks:
            callback()
        assert announced == [("ranking", "1.0.0", "promote")]
        with django_capture_on_commit_callbacks(execute=True):
            services.version_promote(version=two, actor=release_manager)
            services.model_rollback(model=one.model, actor=release_manager)
        assert announced[1:] == [("ranking", "2.0.0", "promote"), ("ranking", "1.0.0", "rollback")]

    def test_a_rolled_back_transaction_announces_nothing(
            self, register_version, release_manager, announced,
            django_capture_on_commit_callbacks):
        version = register_version("1.0.0")
        to_staging(version, release_manager)
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            try:
                with transaction.atomic():
                    services.version_promote(version=version, actor=release_manager)
                    raise RuntimeError("something later in the same transaction failed")
            except RuntimeError:
                pass
        assert callbacks == []
        assert announced == []
        assert stage_of(version) == "staging"

    def test_non_production_moves_announce_nothing(
            self, register_version, release_manager, announced,
            django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            to_staging(register_version("1.0.0"), release_manager)
        assert announced == []


class TestArtifactVerification:
    """The artifact (up to 2 GiB, maybe on S3) is hashed before the model's lock is taken;
    under the lock only its path and sha256 are re-checked."""

    @pytest.fixture
    def hashing_in_transaction(self, monkeypatch):
        from django.db import connection

        from models_app import artifacts

        real_sha256 = artifacts.artifact_sha256
        seen: list[bool] = []

        def recording_sha256(path):
            seen.append(connection.in_atomic_block)
            return real_sha256(path)

        monkeypatch.setattr(artifacts, "artifact_sha256", recording_sha256)
        return seen

    @pytest.mark.django_db(transaction=True)
    def test_promotion_and_rollback_hash_outside_any_transaction(
            self, register_version, release_manager, hashing_in_transaction):
        first, second = register_version("1.0.0"), register_version("1.1.0")
        promote(first, release_manager)
        promote(second, release_manager)
        services.model_rollback(model=first.model, actor=release_manager)
        assert hashing_in_transaction == [False, False, False]
        assert stage_of(first) == "production"

    def test_a_version_whose_artifact_changed_under_way_is_not_promoted(
            self, register_version, release_manager, monkeypatch):
        version = register_version("1.0.0")
        to_staging(version, release_manager)
        real_check = selectors.promotion_artifact_check

        def check_then_change(*, version):
            check = real_check(version=version)
            ModelVersion.objects.filter(pk=version.pk).update(artifact_sha256="0" * 64)
            return check

        monkeypatch.setattr(selectors, "promotion_artifact_check", check_then_change)
        with pytest.raises(TransitionRefused, match="changed while this promotion"):
            services.version_promote(version=version, actor=release_manager)
        assert stage_of(version) == "staging"
