"""Who acts on a test: a request's user (maybe anonymous), or None for the system."""

from __future__ import annotations

from typing import TypeAlias

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User

Actor: TypeAlias = AbstractBaseUser | AnonymousUser | None


def signed_in(actor: Actor) -> User | None:
    """The user to record as having acted; None for an anonymous caller or the system."""
    return actor if isinstance(actor, User) else None
