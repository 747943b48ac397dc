"""A stand-in for the platform's own model package (tests add it to PLATFORM_MODEL_PACKAGE).

`models` holds real platform-style classes; `helpers` and `reexports` hold what an attacker
would like a pickle to reach through the platform package: a function, and names re-exported
from os and subprocess.
"""
