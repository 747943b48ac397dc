from django.apps import AppConfig


class AxionRegistryConfig(AppConfig):
    name = "axion_registry"

    def ready(self) -> None:
        # Make the project's Celery app the current one before any task is sent.
        from axion_registry.celery import app  # noqa: F401
