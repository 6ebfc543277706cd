"""Create an API token for a user and print it (for scripts and first setup;
people use their settings page).

1. Finds the active user by username.
2. Creates a token with the given name and scopes (read, write, review).
3. Prints the token once on stdout; only its hash is stored.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from api.models import ApiToken, Scope


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="command line")
        parser.add_argument("--scopes", default="read", help="comma-separated: read, write, review")

    def handle(self, *args, username: str, name: str, scopes: str, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        chosen = [scope.strip() for scope in scopes.split(",") if scope.strip()]
        unknown = sorted(set(chosen) - set(Scope.values))
        if unknown or not chosen:
            raise CommandError(f"Scopes must be among {', '.join(Scope.values)}; got {scopes!r}.")
        _, secret = ApiToken.issue(user, name, chosen)
        self.stdout.write(secret)
