import pytest
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db


def test_a_token_authenticates_every_app(api):
    for path in ("/api/v1/models/", "/api/v1/experiments/", "/api/v1/abtests/",
                 "/api/v1/deployments/"):
        assert api.get(path).status_code == 200, path


def test_an_unknown_token_is_a_401_with_a_code(anon_api):
    anon_api.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = anon_api.get("/api/v1/models/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    assert response["WWW-Authenticate"] == "Token"


def test_a_deactivated_user_works_until_the_cache_expires(api, settings):
    assert api.get("/api/v1/models/").status_code == 200
    api.user.is_active = False
    api.user.save()
    assert api.get("/api/v1/models/").status_code == 200  # cached for TOKEN_CACHE_SECONDS
    settings.TOKEN_CACHE_SECONDS = 0
    from axion_registry.authentication import forget_tokens

    forget_tokens()
    assert api.get("/api/v1/models/").status_code == 401


def test_a_deleted_token_stops_working_once_not_cached(api, settings):
    settings.TOKEN_CACHE_SECONDS = 0
    assert api.get("/api/v1/models/").status_code == 200
    Token.objects.filter(user=api.user).delete()
    assert api.get("/api/v1/models/").status_code == 401


def test_the_cached_user_is_the_tokens_user(api, researcher):
    from axion_registry.authentication import token_user

    key = Token.objects.get(user=researcher).key
    assert token_user(key).pk == researcher.pk
    assert token_user(key) is token_user(key)  # one read, then the cache
    assert token_user("missing") is None
