from __future__ import annotations

from django.apps import AppConfig


class AxionRegistryConfig(AppConfig):
    name = "axion_registry"
    verbose_name = "Axion registry"
