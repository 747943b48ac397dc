from django.apps import AppConfig


class WebhooksAppConfig(AppConfig):
    name = "webhooks_app"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from webhooks_app import receivers

        receivers.connect()
