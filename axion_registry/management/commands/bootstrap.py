"""Create the admin user and its API token if absent, and print how to log in."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandParser
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create an admin user (a release manager) and an API token if absent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default="admin")
        parser.add_argument("--token-file", default="", help="Also write the token here.")

    def handle(self, *args: Any, username: str, password: str, token_file: str,
               **options: Any) -> None:
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        if user is None:
            user = user_model.objects.create_superuser(username=username, password=password,
                                                       email="")
            self.stdout.write(f"Created admin user '{username}'.")
        group = Group.objects.filter(name="release managers").first()
        if group is not None:
            user.groups.add(group)
        token, _ = Token.objects.get_or_create(user=user)
        if token_file:
            with open(token_file, "w") as handle:
                handle.write(token.key)
        self.stdout.write(f"API token for {username}: {token.key}")
