"""dlt source for Flower, Celery's monitoring API: tasks, workers, task types and queue lengths.

Pure dlt (no Dagster). Flower keeps tasks in memory only and forgets them on restart, so the warehouse is the
durable history: tasks are merged on `uuid` and never deleted; workers and queue lengths are snapshots.
  client.py     the HTTP client and its errors
  rows.py       task rows and Arrow pages (odd values replaced, never blocking a load)
  tasks.py      the tasks walk: which tasks a run reads, on every Flower 2.x
  snapshots.py  workers, task types, queue lengths
  source.py     the dlt source
  settings.py   every Flower setting as one typed dlt config (FlowerSettings): the source's and the checks'
"""

from sources.flower.client import FlowerAuthError, FlowerConfigError, FlowerError, FlowerUnreachableError
from sources.flower.source import flower_source

__all__ = ["FlowerAuthError", "FlowerConfigError", "FlowerError", "FlowerUnreachableError", "flower_source"]
