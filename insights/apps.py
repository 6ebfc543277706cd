from django.apps import AppConfig


class InsightsConfig(AppConfig):
    """Pages for people who watch: the dashboard, spend, the cost estimate and
    evaluations on labelled sets. They read what the orchestrator and review
    record; nothing in those apps depends on this one."""

    name = "insights"
