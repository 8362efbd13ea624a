from django.apps import AppConfig


class JobsConfig(AppConfig):
    """Background jobs: the tasks run by the queue's workers (preau.jobs.tasks)."""

    name = "preau.jobs"
    label = "jobs"
    verbose_name = "Tâches de fond"
