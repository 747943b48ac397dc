"""Guarantees under real concurrency: threads, each with its own PostgreSQL connection."""

import functools
import io
import threading

import pytest
from django.db import connection

from axion_registry.testing import run_concurrently
from models_app import services
from models_app.errors import TransitionRefused
from models_app.models import ModelVersion, StageTransition

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_registrations_never_share_a_version(registered_model, sklearn_pickle):
    def register():
        return services.version_register(
            model_name="ranking", artifact=io.BytesIO(sklearn_pickle), framework="sklearn",
            artifact_format="pickle", bump="minor").version

    results = run_concurrently([register] * 12)  # raises if any registration failed
    assert sorted(results, key=lambda v: tuple(map(int, v.split(".")))) == [
        f"1.{i}.0" for i in range(12)]
    assert ModelVersion.objects.count() == 12


def test_twenty_concurrent_promoters_leave_exactly_one_production_version(
        registered_model, sklearn_pickle, release_manager):
    services.model_update(model=registered_model,
                          gates={"require_staging": False, "load_check": False})
    for repetition in range(20):
        versions = [
            services.version_register(
                model_name="ranking", artifact=io.BytesIO(sklearn_pickle), framework="sklearn",
                artifact_format="pickle", bump="major")
            for _ in range(20)
        ]
        before = StageTransition.objects.count()

        def promote(i, versions=versions, repetition=repetition):
            return services.version_promote(version=versions[i], actor=release_manager,
                                            reason=f"race {repetition}")

        outcomes = run_concurrently([functools.partial(promote, i) for i in range(20)],
                                    return_exceptions=True)
        results = [None if isinstance(o, BaseException) else o for o in outcomes]
        unexpected = [o for o in outcomes
                      if isinstance(o, BaseException) and not isinstance(o, TransitionRefused)]
        assert unexpected == []
        production = ModelVersion.objects.filter(model=registered_model, stage="production")
        assert production.count() == 1, f"repetition {repetition}"
        # The audit trail tells one consistent story: promotions alternate with the archiving
        # of the version they replaced, and the last promoted is the one in production.
        story = list(StageTransition.objects.order_by("id")[before:].values_list(
            "kind", "version_id"))
        promoted = [v for kind, v in story if kind == "promote"]
        archived = [v for kind, v in story if kind == "archive"]
        assert len(promoted) == sum(r is not None for r in results)
        assert promoted[-1] == production.get().pk
        previous = ModelVersion.objects.filter(model=registered_model, stage="archived")
        assert set(archived) <= set(previous.values_list("pk", flat=True))
        live = set(promoted) - set(archived)
        assert live == {production.get().pk}


def test_concurrent_approvals_of_one_request_promote_once(
        registered_model, sklearn_pickle, release_manager, make_user):
    from models_app.errors import PromotionRequestClosed
    from models_app.models import PromotionRequest

    services.model_update(model=registered_model, require_four_eyes=True,
                          gates={"require_staging": False, "load_check": False})
    version = services.version_register(
        model_name="ranking", artifact=io.BytesIO(sklearn_pickle), framework="sklearn",
        artifact_format="pickle")
    request = services.promotion_request_file(version=version, actor=release_manager,
                                              reason="ship")
    approvers = [make_user(f"approver_{i}", release_manager=True) for i in range(6)]

    def approve(i):
        return services.promotion_request_approve(request_id=request.pk, actor=approvers[i])

    outcomes = run_concurrently([functools.partial(approve, i) for i in range(6)],
                                return_exceptions=True)
    approved = [o for o in outcomes if not isinstance(o, BaseException)]
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(approved) == 1 and approved[0] is not None
    assert all(isinstance(e, PromotionRequestClosed) for e in errors)
    assert StageTransition.objects.filter(kind="promote").count() == 1
    assert PromotionRequest.objects.get().status == "approved"


def test_concurrent_requests_leave_one_pending(registered_model, sklearn_pickle, make_user):
    from models_app.models import PromotionRequest

    services.model_update(model=registered_model, require_four_eyes=True)
    versions = [services.version_register(
        model_name="ranking", artifact=io.BytesIO(sklearn_pickle), framework="sklearn",
        artifact_format="pickle", bump="minor") for _ in range(6)]
    requesters = [make_user(f"requester_{i}", release_manager=True) for i in range(6)]

    def file(i):
        return services.promotion_request_file(version=versions[i], actor=requesters[i],
                                               reason=f"request {i}")

    run_concurrently([functools.partial(file, i) for i in range(6)])  # raises if any failed
    assert PromotionRequest.objects.filter(status="pending").count() == 1
    assert PromotionRequest.objects.filter(status="withdrawn").count() == 5


@pytest.fixture
def lock_probe(monkeypatch, registered_model):
    """While an artifact is hashed, another connection tries to lock the model's row
    (NOWAIT): each entry of the returned list says whether it could."""
    from django.db import transaction

    from models_app import artifacts
    from models_app.models import RegisteredModel

    real_sha256 = artifacts.artifact_sha256
    lockable: list[bool] = []

    def try_lock():
        try:
            with transaction.atomic():
                RegisteredModel.objects.select_for_update(nowait=True).get(
                    pk=registered_model.pk)
            lockable.append(True)
        except Exception:  # noqa: BLE001 - DatabaseError: the row is locked
            lockable.append(False)
        finally:
            connection.close()

    def probing_sha256(path):
        thread = threading.Thread(target=try_lock)
        thread.start()
        thread.join(30)
        return real_sha256(path)

    monkeypatch.setattr(artifacts, "artifact_sha256", probing_sha256)
    return lockable


def _promotable(registered_model, sklearn_pickle, **gates):
    services.model_update(model=registered_model,
                          gates={"require_staging": False, "load_check": False, **gates})
    return services.version_register(
        model_name="ranking", artifact=io.BytesIO(sklearn_pickle), framework="sklearn",
        artifact_format="pickle", bump="major")


def test_a_promotion_hashes_the_artifact_without_holding_the_models_lock(
        registered_model, sklearn_pickle, release_manager, lock_probe):
    version = _promotable(registered_model, sklearn_pickle)
    services.version_promote(version=version, actor=release_manager)
    assert lock_probe == [True]
    assert ModelVersion.objects.get(pk=version.pk).stage == "production"


def test_a_rollback_hashes_the_artifact_without_holding_the_models_lock(
        registered_model, sklearn_pickle, release_manager, lock_probe):
    first = _promotable(registered_model, sklearn_pickle, verify_artifact=False)
    services.version_promote(version=first, actor=release_manager)
    second = _promotable(registered_model, sklearn_pickle, verify_artifact=False)
    services.version_promote(version=second, actor=release_manager)
    assert lock_probe == []
    services.model_rollback(model=registered_model, actor=release_manager)
    assert lock_probe == [True]
    assert ModelVersion.objects.get(pk=first.pk).stage == "production"


def test_a_four_eyes_approval_hashes_the_artifact_without_holding_the_models_lock(
        registered_model, sklearn_pickle, release_manager, second_release_manager, lock_probe):
    services.model_update(model=registered_model, require_four_eyes=True)
    version = _promotable(registered_model, sklearn_pickle)
    request = services.promotion_request_file(version=version, actor=release_manager,
                                              reason="ship")
    services.promotion_request_approve(request_id=request.pk, actor=second_release_manager)
    assert lock_probe == [True, True]  # filing and approving each hashed once, unlocked
    assert ModelVersion.objects.get(pk=version.pk).stage == "production"
