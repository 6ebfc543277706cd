"""The old name of keeprunsmoving, kept so scripts and crontabs that call it
go on working: it requeues lost steps, releases held runs and polls batches."""

from .keeprunsmoving import Command as KeepRunsMoving


class Command(KeepRunsMoving):
    help = "Alias of keeprunsmoving. " + (KeepRunsMoving.help or "")
