"""What every warehouse-writing step (dlt loads, dbt build) runs inside: dead runs reaped, the writers' turns,
and warehouse trouble reported as one sentence; and what the read-only asset checks run inside: a reader's
turn, warehouse trouble reported alike.

DuckDB: one writer at a time (a file lock beside the warehouse); a lock conflict is named with its holder.
PostgreSQL: many writers at once; only writers of the same thing take turns (loads of one source, dbt
builds) on a lock of the server; connection and privilege problems name the setting to fix.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from orchestration.runs.reaper import reap_dead_runs
from orchestration.warehouse.engine import ensure_writable, is_postgres, warehouse_path
from orchestration.warehouse.errors import (
    WarehouseLockedError,
    WarehouseUnavailableError,
    lock_conflict_message,
)
from orchestration.warehouse.lock import WarehouseBusyError, exclusive_writer, postgres_turn
from orchestration.warehouse.postgres import check_postgres, postgres_problem


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
    with _trouble_as_one_sentence(), _turn(_holder(context), context.log.info, turn, schemas):
        yield


@contextmanager
def reading_in_turn(context: dg.OpExecutionContext) -> Iterator[None]:
    """Read the warehouse in the block (the asset checks, which write nothing). On DuckDB in a turn all the
    same, on the writers' lock: DuckDB lets one process at a time open the file, reading or writing.
    PostgreSQL's readers take no turn. No dead runs reaped and nothing checked for writing; any warehouse
    trouble ends the check with one clear sentence, as for writers."""
    with _trouble_as_one_sentence():
        if is_postgres():
            yield
        else:
            with exclusive_writer(warehouse_path(), _holder(context), context.log.info):
                yield


def _holder(context: dg.OpExecutionContext) -> dict:
    """Who holds the turn, written into the lock so a waiter can name it."""
    return {"pid": os.getpid(), "run": context.run_id, "step": str(context.op_handle)}


@contextmanager
def _trouble_as_one_sentence() -> Iterator[None]:
    try:
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
