"""Names the platform package imports from elsewhere: reachable by attribute, not its own."""

from os import system  # noqa: F401
from subprocess import Popen  # noqa: F401
