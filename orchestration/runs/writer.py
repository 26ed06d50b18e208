"""What every warehouse-writing step (dlt loads, dbt build) runs inside: dead runs reaped, the writers' turns,
and warehouse trouble reported as one sentence.

DuckDB: one writer at a time (a file lock beside the warehouse); a lock conflict is named with its holder.
PostgreSQL: many writers at once; only writers of the same thing take turns (loads of one source, dbt
builds) on a lock of the server; connection and privilege problems name the setting to fix.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from orchestration.runs.reaper import reap_dead_runs
from orchestration.warehouse.engine import (
    WarehouseLockedError,
    WarehouseUnavailableError,
    check_postgres,
    ensure_writable,
    is_postgres,
    lock_conflict_message,
    postgres_problem,
    warehouse_path,
)
from orchestration.warehouse.lock import WarehouseBusyError, exclusive_writer, postgres_turn


@contextmanager
def writing_the_warehouse(
    context: dg.AssetExecutionContext, turn: str | None = None, schemas: tuple[str, ...] = ()
) -> Iterator[None]:
    """Write the warehouse in the block: on DuckDB holding its writer lock, on PostgreSQL holding the turn
    `turn` (none: no turn) after checking we may create tables in `schemas`. Any warehouse trouble ends the
    step with one clear sentence.

    On DuckDB the pre-check catches a reader that already holds the file; a process that opens it later (a
    notebook mid-load) surfaces inside dlt or dbt, whose chained tracebacks would bury the sentence: dropped
    here.
    """
    try:
        reap_dead_runs(context.instance, context.log)
    except Exception as error:  # housekeeping: never the reason a load fails
        context.log.warning(f"Could not check for dead runs: {error}")
    holder = {"pid": os.getpid(), "run": context.run_id, "step": str(context.op_handle)}
    try:
        with _turn(holder, context.log.info, turn, schemas):
            yield
    except (WarehouseBusyError, WarehouseLockedError, WarehouseUnavailableError) as error:
        raise dg.Failure(str(error)) from None
    except Exception as error:
        message = postgres_problem(error) if is_postgres() else lock_conflict_message(error)
        if message is None:
            raise
        raise dg.Failure(message) from None


@contextmanager
def _turn(holder: dict, on_wait, turn: str | None, schemas: tuple[str, ...]) -> Iterator[None]:
    if not is_postgres():
        with exclusive_writer(warehouse_path(), holder, on_wait):
            ensure_writable()
            yield
        return
    check_postgres(schemas)
    if turn is None:
        yield
        return
    with postgres_turn(turn, {key: value for key, value in holder.items() if key != "pid"}, on_wait):
        yield
