"""DRF's token authentication in one raw query instead of an ORM lookup.

Same tokens, same answers (401 for an unknown token or an inactive user): the tracking
endpoints are called once per logged metric, where the ORM's query compilation for
Token.objects.select_related("user").get(key=...) was a third of the request's time.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext_lazy as _
from drf_spectacular.drainage import set_override
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token


class FastTokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key: str):
        user_model = get_user_model()
        users = list(user_model.objects.raw(_user_sql(), [key]))
        if not users:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = users[0]
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, Token(key=key, user=user)


# The OpenAPI schema describes it as what it is: DRF's "tokenAuth" scheme (drf-spectacular's
# TokenScheme matches subclasses); same name, same definition, so no collision to report.
set_override(FastTokenAuthentication, "suppress_collision_warning", True)

_SQL: dict[str, str] = {}


def _user_sql() -> str:
    sql = _SQL.get(connection.vendor)
    if sql is None:
        quote = connection.ops.quote_name
        user_model = get_user_model()
        columns = ", ".join(f"u.{quote(field.column)}"
                            for field in user_model._meta.concrete_fields)
        sql = _SQL[connection.vendor] = (
            f"SELECT {columns} FROM {quote(Token._meta.db_table)} t "
            f"JOIN {quote(user_model._meta.db_table)} u "
            f"ON u.{quote(user_model._meta.pk.column)} = t.{quote('user_id')} "
            f"WHERE t.{quote('key')} = %s"
        )
    return sql
