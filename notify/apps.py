from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "notify"
    verbose_name = "Webhooks and notifications"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects to the run and review signals)
