"""A platform function no pickle may call: it runs a shell command."""

from __future__ import annotations

import os


def run_shell(command: str) -> int:
    return os.system(command)
