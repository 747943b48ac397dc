from axion_registry.errors import InvalidInput, NotFound


class WebhookNotFound(NotFound):
    code = "webhook_not_found"


class InvalidWebhook(InvalidInput):
    code = "invalid_webhook"
