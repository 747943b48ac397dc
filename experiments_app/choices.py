from django.db import models


class RunStatus(models.TextChoices):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    KILLED = "killed"


TERMINAL_STATUSES = (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)
