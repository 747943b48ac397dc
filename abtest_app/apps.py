from django.apps import AppConfig


class AbtestAppConfig(AppConfig):
    name = "abtest_app"
    verbose_name = "A/B tests"
