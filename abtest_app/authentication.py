"""`Authorization: OutcomeToken <key>`: a test-scoped credential, accepted only by that
test's outcomes endpoint (the view names this class; no other view does)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

KEYWORD = "OutcomeToken"


class OutcomeTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Any) -> tuple[AnonymousUser, Any] | None:
        header = authentication.get_authorization_header(request).decode(errors="replace")
        scheme, _, key = header.partition(" ")
        if scheme != KEYWORD:
            return None
        from abtest_app.services.tokens import outcome_token_find

        token = outcome_token_find(key.strip())
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked outcome token.")
        return AnonymousUser(), token

    def authenticate_header(self, request: Any) -> str:
        return KEYWORD


class SignedInOrOutcomeToken(permissions.BasePermission):
    def has_permission(self, request: Any, view: Any) -> bool:
        from abtest_app.models import OutcomeToken

        return bool(request.user and request.user.is_authenticated) or isinstance(
            request.auth, OutcomeToken
        )


class OutcomeTokenScheme(OpenApiAuthenticationExtension):
    target_class = "abtest_app.authentication.OutcomeTokenAuthentication"
    name = "outcomeToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "`OutcomeToken <key>`: posts outcomes to the one test it was made "
            "for.",
        }
