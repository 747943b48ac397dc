# The Celery app is loaded lazily: importing kombu pulls in django.utils, and
# axion_registry.client must import on a training machine without Django. Django processes
# load it in AxionRegistryConfig.ready(); `celery -A axion_registry` finds axion_registry.celery.


def __getattr__(name: str):
    if name == "celery_app":
        from .celery import app

        return app
    raise AttributeError(f"module 'axion_registry' has no attribute {name!r}")


__all__ = ("celery_app",)
