"""The record of completed presence sweeps: one row, written by the sweep task, read by /healthz and /metrics."""

from datetime import datetime

from django.db.models import F

from users.models import SweepRecord
from users.presence import clock

RECORD_ID = 1


def record_completed_sweep(*, duration_seconds: float, marked_offline: int) -> datetime:
    """Store that a sweep just finished; the totals grow in the same UPDATE, so concurrent sweeps add up."""
    at = clock.now()
    values = {"finished_at": at, "duration_seconds": duration_seconds, "marked_offline": marked_offline}
    totals = {"sweeps_total": F("sweeps_total") + 1, "marked_offline_total": F("marked_offline_total") + marked_offline}
    if not SweepRecord.objects.filter(pk=RECORD_ID).update(**values, **totals):
        # The first sweep ever creates the row with zero totals (a racing sweep may too: ignored),
        # then counts itself like every other sweep.
        SweepRecord.objects.bulk_create([SweepRecord(pk=RECORD_ID, **values)], ignore_conflicts=True)
        SweepRecord.objects.filter(pk=RECORD_ID).update(**values, **totals)
    return at


def last_sweep() -> SweepRecord | None:
    """The last completed sweep, or None if no sweep has completed yet."""
    return SweepRecord.objects.filter(pk=RECORD_ID).first()
