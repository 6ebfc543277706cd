from django.apps import AppConfig


class OrchestratorConfig(AppConfig):
    name = "orchestrator"

    def ready(self) -> None:
        # Imported once here rather than on a job's first call: an RQ worker forks a
        # work-horse per job, and a horse inherits what its parent loaded (the engine,
        # the offline rules already compiled) instead of importing it again, per job.
        from . import configcache, engine  # noqa: F401
        from .llm import offline  # noqa: F401

        configcache.connect()
