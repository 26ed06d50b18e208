"""What every warehouse-writing step (dlt loads, dbt build) runs inside: one writer, dead runs reaped,
and a DuckDB lock conflict reported as one sentence."""

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from orchestration.reaper import reap_dead_runs
from sources.warehouse import WarehouseLockedError, ensure_writable, lock_conflict_message, warehouse_path
from sources.warehouse_lock import WarehouseBusyError, exclusive_writer


@contextmanager
def writing_the_warehouse(context: dg.AssetExecutionContext) -> Iterator[None]:
    """Hold the warehouse writer lock for the block; any lock trouble ends the step with one clear sentence.

    The pre-check catches a reader that already holds the file; a process that opens it later (a notebook
    mid-load) surfaces inside dlt or dbt, whose chained tracebacks would bury the sentence: dropped here.
    """
    try:
        reap_dead_runs(context.instance, context.log)
    except Exception as error:  # housekeeping: never the reason a load fails
        context.log.warning(f"Could not check for dead runs: {error}")
    holder = {"pid": os.getpid(), "run": context.run_id, "step": str(context.op_handle)}
    try:
        with exclusive_writer(warehouse_path(), holder, context.log.info):
            ensure_writable()
            yield
    except (WarehouseBusyError, WarehouseLockedError) as error:
        raise dg.Failure(str(error)) from None
    except Exception as error:
        message = lock_conflict_message(error)
        if message is None:
            raise
        raise dg.Failure(message) from None
