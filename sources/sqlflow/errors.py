"""Errors raised by the SQLFlow source. Messages name SQLFlow, the endpoint, the code and what to fix."""

CREDENTIALS_HINT = (
    "set SOURCES__SQLFLOW__USER_ID and SOURCES__SQLFLOW__SECRET_KEY "
    "(or user_id / secret_key under [sources.sqlflow] in .dlt/secrets.toml)"
)
BASE_URL_HINT = (
    "check SOURCES__SQLFLOW__BASE_URL: it must end with the API prefix, e.g. "
    "https://api.gudusoft.com/gspLive_backend or http://host:8165/api/gspLive_backend"
)


class SQLFlowError(RuntimeError):
    """SQLFlow answered with an error, an unreadable body, or not at all; `code` is SQLFlow's own when it
    gave one (its in-body code, or the HTTP status)."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


class SQLFlowUnreachableError(SQLFlowError):
    """No answer at all (connection refused, connect timeout, no token): the server, not one file or job, is
    the problem."""


class SQLFlowTimeoutError(SQLFlowError):
    """The server took the request but gave no answer within the read timeout: on a lineage call, that file
    or job is the problem (heavy SQL), not the server."""

    def __init__(self, message: str):
        super().__init__(message, code="timeout")


class SQLFlowAuthError(SQLFlowError):
    """SQLFlow rejected the userId / secretKey / token."""


class SQLFlowConfigError(SQLFlowError):
    """The source is missing a setting it needs to talk to SQLFlow."""
