"""Clear errors for SQLFlow calls that got no HTTP answer: each names its cause and the setting that governs it.

requests wraps the cause several levels deep (ConnectionError > MaxRetryError > NewConnectionError >
ConnectionRefusedError), behind a long message: the cause is read from the exception chain instead.
"""

import socket
import ssl
from http.client import RemoteDisconnected
from urllib.parse import urlsplit, urlunsplit

from dlt.sources.helpers.requests import ConnectTimeout, RequestException, Timeout
from dlt.sources.helpers.requests.retry import DEFAULT_RETRY_EXCEPTIONS

from sources.http import ATTEMPTS_SETTING
from sources.sqlflow.envelope import Redactor
from sources.sqlflow.errors import BASE_URL_HINT, SQLFlowTimeoutError, SQLFlowUnreachableError

TIMEOUT_SETTING = "SOURCES__SQLFLOW__REQUEST_TIMEOUT"


def exception_chain(error: BaseException) -> list[BaseException]:
    """`error` and the exceptions behind it, outermost first."""
    chain: list[BaseException] = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


def without_userinfo(url: str) -> str:
    """`url` without a `user:password@` part, which must not reach a message."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def host_and_port(url: str) -> str:
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return parts.netloc
    return f"{parts.hostname}:{port}"


def unreachable_cause(error: RequestException, url: str) -> tuple[str, str]:
    """Why no connection came about, from the innermost exception that says so, and what to ask next."""
    chain = exception_chain(error)
    for cause in chain:
        if isinstance(cause, socket.gaierror):
            name = urlsplit(url).hostname
            return f"the host name {name!r} cannot be resolved ({cause.strerror})", "Is the host name right?"
        if isinstance(cause, ConnectionRefusedError):
            where = host_and_port(url)
            return f"connection refused (nothing listens on {where})", "Is the server running there?"
        if isinstance(cause, ssl.SSLError):
            return f"the TLS handshake failed ({cause})", "Does the server speak https, or only http?"
        if isinstance(cause, ConnectionResetError | RemoteDisconnected | BrokenPipeError):
            closed = f"{host_and_port(url)} closed the connection without an answer"
            return closed, "Is it SQLFlow that listens there, and with http or https as given?"
    root = chain[-1]
    return f"{type(root).__name__}: {' '.join(str(root).split())}", "Is the URL right?"


def transport_error(
    endpoint: str,
    url: str,
    error: RequestException,
    timeout_s: float,
    max_attempts: int,
    redact: Redactor,
    retried: tuple[type[Exception], ...] = DEFAULT_RETRY_EXCEPTIONS,
) -> SQLFlowUnreachableError | SQLFlowTimeoutError:
    """A clear error for a call that got no HTTP answer, after dlt's retries of the `retried` errors.

    A read timeout is a SQLFlowTimeoutError: the server took the request, so the call (one heavy SQL file or
    job) may be what is slow. Every other error means no server answers there."""
    url = without_userinfo(url)
    if isinstance(error, retried):
        tried = f"after {max_attempts} attempt(s), {ATTEMPTS_SETTING}={max_attempts}"
    elif isinstance(error, Timeout):
        tried = "after 1 attempt, not repeated this run (another would wait as long)"
    else:
        tried = f"after 1 attempt(s), {ATTEMPTS_SETTING}={max_attempts}"
    if isinstance(error, ConnectTimeout):
        message = (
            f"SQLFlow {endpoint} could not connect to {url}: connect timeout of {timeout_s:g} s "
            f"({TIMEOUT_SETTING}) {tried}. Check SOURCES__SQLFLOW__BASE_URL (host, port, firewall) "
            f"or raise {TIMEOUT_SETTING}."
        )
    elif isinstance(error, Timeout):
        return SQLFlowTimeoutError(
            redact(
                f"SQLFlow {endpoint} did not answer at {url}: read timeout of {timeout_s:g} s "
                f"({TIMEOUT_SETTING}) {tried}. Raise {TIMEOUT_SETTING} or send less SQL per call."
            )
        )
    else:
        cause, question = unreachable_cause(error, url)
        message = f"SQLFlow {endpoint} is unreachable at {url}: {cause}, {tried}. {question} {BASE_URL_HINT}"
    return SQLFlowUnreachableError(redact(message))
