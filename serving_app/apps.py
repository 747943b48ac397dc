from django.apps import AppConfig


class ServingAppConfig(AppConfig):
    name = "serving_app"
    verbose_name = "Serving"

    def ready(self) -> None:
        from serving_app import receivers  # noqa: F401  (connects the deployment receiver)
