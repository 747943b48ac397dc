"""Signed artifacts: a model may require every version's artifact to carry a model-signing
bundle by one of its trusted keys, checked at upload and again at load."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import CommandError, call_command

from models_app import services
from models_app.errors import SignatureInvalid, SignatureRequired
from models_app.models import ModelVersion, RegisteredModel
from models_app.signing import key_fingerprint
from serving_app import loader
from serving_app.errors import ArtifactRefused

pytestmark = pytest.mark.django_db


class SigningKey:
    """An EC P-256 key pair made for the test, and model_signing's signer over it."""

    def __init__(self, folder: Path, name: str):
        private = ec.generate_private_key(ec.SECP256R1())
        self.folder = folder
        self.private_path = folder / f"{name}.pem"
        self.private_path.write_bytes(private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        self.public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, content: bytes, name: str = "model.pkl") -> bytes:
        from model_signing import signing

        path = self.folder / name
        path.write_bytes(content)
        bundle = self.folder / f"{name}.sig"
        signing.Config().use_elliptic_key_signer(private_key=self.private_path).sign(
            path, bundle)
        return bundle.read_bytes()


@pytest.fixture
def keys(tmp_path):
    def make(name: str) -> SigningKey:
        folder = tmp_path / "keys" / name
        folder.mkdir(parents=True)
        return SigningKey(folder, name)

    return make


@pytest.fixture
def signed_model(api, researcher, keys):
    """`ranking`, owned by the researcher, requiring artifacts signed by the `release` key."""
    response = api.post("/api/v1/models/", {"name": "ranking"}, format="json")
    assert response.status_code == 201, response.content
    key = keys("release")
    response = api.patch("/api/v1/models/ranking/signing/", {
        "require_signed_artifacts": True, "signing_keys": [key.public_pem]}, format="json")
    assert response.status_code == 200, response.content
    return key


def upload(client, content: bytes, signature: bytes | None = None, **metadata):
    metadata.setdefault("framework", "sklearn")
    metadata.setdefault("artifact_format", "pickle")
    artifact = io.BytesIO(content)
    artifact.name = "model.pkl"
    parts = {"artifact": artifact, "metadata": json.dumps(metadata)}
    if signature is not None:
        parts["signature"] = io.BytesIO(signature)
        parts["signature"].name = "model.pkl.sig"
    return client.post("/api/v1/models/ranking/versions/", parts, format="multipart")


def nothing_stored(artifact_root: Path) -> bool:
    return not ModelVersion.objects.exists() and not [
        p for p in artifact_root.rglob("*") if p.is_file()]


def other_pickle(sklearn_model) -> bytes:
    import copy

    changed = copy.deepcopy(sklearn_model)
    changed.coef_ = changed.coef_ * 2
    return pickle.dumps(changed)


def test_a_correctly_signed_artifact_is_admitted_stored_beside_it_and_loads(
        api, signed_model, sklearn_pickle, artifact_root):
    bundle = signed_model.sign(sklearn_pickle)
    response = upload(api, sklearn_pickle, bundle)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["signature_bundle"] == "ranking/1.0.0/model.sig"
    assert body["signed_with"] == key_fingerprint(signed_model.public_pem)
    assert (artifact_root / "ranking/1.0.0/model.sig").read_bytes() == bundle
    row = ModelVersion.objects.get()
    artifact = loader.load(loader.VersionRecord.from_row(row))
    assert artifact.predict([[1.0, 1.0, 0.0, 0.0]]).shape == (1,)


def test_it_refuses_an_unsigned_artifact_when_the_model_requires_signing(
        api, signed_model, sklearn_pickle, artifact_root):
    response = upload(api, sklearn_pickle)
    assert response.status_code == 400
    assert response.json()["code"] == "signature_required"
    assert "'signature' part" in response.json()["message"]
    assert nothing_stored(artifact_root)


def test_it_refuses_a_bundle_made_with_a_key_the_model_does_not_trust(
        api, signed_model, keys, sklearn_pickle, artifact_root):
    response = upload(api, sklearn_pickle, keys("intruder").sign(sklearn_pickle))
    assert response.status_code == 400
    assert response.json()["code"] == "signature_invalid"
    assert "not a valid signature by any of the model's trusted keys" in (
        response.json()["message"])
    assert nothing_stored(artifact_root)


def test_it_refuses_an_artifact_changed_after_it_was_signed(
        api, signed_model, sklearn_model, sklearn_pickle, artifact_root):
    bundle = signed_model.sign(sklearn_pickle)
    response = upload(api, other_pickle(sklearn_model), bundle)
    assert response.status_code == 400
    assert response.json()["code"] == "signature_invalid"
    assert "other file bytes" in response.json()["message"]
    assert nothing_stored(artifact_root)


def test_it_refuses_a_bundle_that_signs_a_different_file(api, signed_model, sklearn_pickle,
                                                         artifact_root):
    bundle = signed_model.sign(b"a different file entirely", name="other.bin")
    response = upload(api, sklearn_pickle, bundle)
    assert response.json()["code"] == "signature_invalid"
    assert nothing_stored(artifact_root)


def test_a_bundle_that_is_not_a_bundle_is_refused(api, signed_model, sklearn_pickle,
                                                  artifact_root):
    response = upload(api, sklearn_pickle, b'{"mediaType": "nonsense"}')
    assert (response.status_code, response.json()["code"]) == (400, "signature_invalid")
    assert nothing_stored(artifact_root)


def test_the_service_checks_signatures_for_every_caller(registered_model, keys, sklearn_pickle,
                                                        register_version, release_manager):
    key = keys("release")
    services.model_signing_update(model=registered_model, actor=release_manager,
                                  require_signed_artifacts=True, signing_keys=[key.public_pem])
    with pytest.raises(SignatureRequired):
        register_version()
    version = register_version(signature_bundle=io.BytesIO(key.sign(sklearn_pickle)))
    assert version.signed_with == key_fingerprint(key.public_pem)


def test_a_model_that_does_not_require_signing_still_verifies_a_bundle_given(
        registered_model, keys, sklearn_pickle, register_version, release_manager):
    trusted, intruder = keys("trusted"), keys("intruder")
    services.model_signing_update(model=registered_model, actor=release_manager,
                                  signing_keys=[trusted.public_pem])
    assert register_version("1.0.0").signature_bundle == ""
    with pytest.raises(SignatureInvalid):
        register_version("1.1.0", signature_bundle=io.BytesIO(intruder.sign(sklearn_pickle)))
    signed = register_version("1.2.0",
                              signature_bundle=io.BytesIO(trusted.sign(sklearn_pickle)))
    assert signed.signature_bundle == "ranking/1.2.0/model.sig"


# -- at load -----------------------------------------------------------------------------

def test_the_loader_refuses_a_version_whose_bundle_was_swapped_in_storage(
        api, signed_model, keys, sklearn_pickle, artifact_root):
    upload(api, sklearn_pickle, signed_model.sign(sklearn_pickle))
    (artifact_root / "ranking/1.0.0/model.sig").write_bytes(keys("intruder").sign(sklearn_pickle))
    with pytest.raises(ArtifactRefused) as caught:
        loader.load(loader.VersionRecord.from_row(ModelVersion.objects.get()))
    assert caught.value.code == "signature_invalid"


def test_the_loader_refuses_an_unsigned_version_once_the_model_requires_signing(
        registered_model, keys, register_version, release_manager):
    row = register_version("1.0.0")
    assert loader.load(loader.VersionRecord.from_row(row))
    services.model_signing_update(model=registered_model, actor=release_manager,
                                  require_signed_artifacts=True,
                                  signing_keys=[keys("release").public_pem])
    row.refresh_from_db()
    with pytest.raises(ArtifactRefused) as caught:
        loader.load(loader.VersionRecord.from_row(row))
    assert caught.value.code == "signature_required"


def test_removing_a_key_stops_the_versions_it_signed_from_loading(
        api, signed_model, keys, sklearn_pickle, release_manager):
    upload(api, sklearn_pickle, signed_model.sign(sklearn_pickle))
    model = RegisteredModel.objects.get(name="ranking")
    services.model_signing_update(model=model, actor=release_manager,
                                  signing_keys=[keys("new").public_pem])
    with pytest.raises(ArtifactRefused) as caught:
        loader.load(loader.VersionRecord.from_row(ModelVersion.objects.get()))
    assert caught.value.code == "signature_invalid"


# -- who may change signing --------------------------------------------------------------

def test_only_the_owner_or_a_release_manager_may_change_signing(
        api, manager_api, anon_api, make_user, keys):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    api.post("/api/v1/models/", {"name": "ranking"}, format="json")
    key = keys("k")
    body = {"require_signed_artifacts": True, "signing_keys": [key.public_pem]}
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION="Token " + Token.objects.create(
        user=make_user("olga_other")).key)
    response = other.patch("/api/v1/models/ranking/signing/", body, format="json")
    assert (response.status_code, response.json()["code"]) == (403, "signing_not_permitted")
    assert anon_api.patch("/api/v1/models/ranking/signing/", body,
                          format="json").status_code in (401, 403)
    assert not RegisteredModel.objects.get().require_signed_artifacts
    assert manager_api.patch("/api/v1/models/ranking/signing/", body,
                             format="json").status_code == 200
    response = api.patch("/api/v1/models/ranking/signing/",
                         {"require_signed_artifacts": False}, format="json")
    assert response.status_code == 200
    assert response.json()["require_signed_artifacts"] is False
    assert [k["fingerprint"] for k in response.json()["signing_keys"]] == [
        key_fingerprint(key.public_pem)]


def test_signing_cannot_be_required_without_a_key_and_keys_must_be_public_ec_keys(
        api, keys):
    api.post("/api/v1/models/", {"name": "ranking"}, format="json")
    response = api.patch("/api/v1/models/ranking/signing/",
                         {"require_signed_artifacts": True}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_metadata")
    assert "without a trusted key" in response.json()["message"]
    private = keys("k").private_path.read_text()
    response = api.patch("/api/v1/models/ranking/signing/", {"signing_keys": [private]},
                         format="json")
    assert response.status_code == 400
    assert "never a private key" in response.json()["message"]
    response = api.patch("/api/v1/models/ranking/signing/", {"signing_keys": ["not a key"]},
                         format="json")
    assert response.status_code == 400
    assert RegisteredModel.objects.get().signing_keys == []


# -- the command line and the Python client ----------------------------------------------

def test_import_model_takes_a_signature_bundle(tmp_path, signed_model, sklearn_pickle):
    path = tmp_path / "ranking_model.pkl"
    path.write_bytes(sklearn_pickle)
    with pytest.raises(CommandError, match="requires signed artifacts"):
        call_command("import_model", str(path), "--name", "ranking", "--framework", "sklearn")
    bundle = tmp_path / "ranking_model.pkl.sig"
    bundle.write_bytes(signed_model.sign(sklearn_pickle))
    call_command("import_model", str(path), "--name", "ranking", "--framework", "sklearn",
                 "--signature", str(bundle), stdout=io.StringIO())
    assert ModelVersion.objects.get().signed_with == key_fingerprint(signed_model.public_pem)


@pytest.fixture
def axion_client(live_server, researcher):
    from rest_framework.authtoken.models import Token

    from axion_client import AxionClient

    client = AxionClient(live_server.url, Token.objects.get_or_create(user=researcher)[0].key)
    yield client
    client.session.close()  # the live server's request thread then closes its connection


def test_the_python_client_uploads_a_signed_version(axion_client, signed_model, sklearn_pickle,
                                                    tmp_path):
    from axion_client import AxionAPIError

    path = tmp_path / "model.pkl"
    path.write_bytes(sklearn_pickle)
    with pytest.raises(AxionAPIError) as caught:
        axion_client.upload_version("ranking", str(path), framework="sklearn",
                                    artifact_format="pickle")
    assert caught.value.code == "signature_required"
    bundle = tmp_path / "model.pkl.sig"
    bundle.write_bytes(signed_model.sign(sklearn_pickle))
    body = axion_client.upload_version(
        "ranking", str(path), framework="sklearn", artifact_format="pickle",
        signature=str(bundle), input_signature={"inputs": [{"name": "f0", "type": "double"}]})
    assert body["signed_with"] == key_fingerprint(signed_model.public_pem)
    assert body["signature"] == {"inputs": [{"name": "f0", "type": "double"}]}
