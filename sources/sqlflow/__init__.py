"""Gudu SQLFlow source: jobs, job lineage and query-mode lineage, loaded by dlt."""

from sources.sqlflow.errors import SQLFlowAuthError, SQLFlowConfigError, SQLFlowError
from sources.sqlflow.source import sqlflow_source

__all__ = ["SQLFlowAuthError", "SQLFlowConfigError", "SQLFlowError", "sqlflow_source"]
