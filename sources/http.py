"""The HTTP session both sources call through: dlt's Client, which retries 429/5xx, timeouts and refused
connections with exponential back-off, bounded by dlt's [runtime] settings (RUNTIME__REQUEST_MAX_ATTEMPTS,
RUNTIME__REQUEST_BACKOFF_FACTOR, RUNTIME__REQUEST_MAX_RETRY_DELAY)."""

from collections.abc import Callable, Sequence
from typing import NamedTuple

from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.specs import RuntimeConfiguration
from dlt.sources.helpers.requests import Client, Response, Session
from dlt.sources.helpers.requests.retry import DEFAULT_RETRY_EXCEPTIONS

ATTEMPTS_SETTING = "RUNTIME__REQUEST_MAX_ATTEMPTS"


class RetryingSession(NamedTuple):
    session: Session
    runtime: RuntimeConfiguration  # the retry settings it was made with, for messages and RESTClient

    @property
    def max_attempts(self) -> int:
        return self.runtime.request_max_attempts


def retrying_session(
    request_timeout: float,
    retry_condition: Callable[[Response | None, BaseException | None], bool] | None = None,
    retry_exceptions: Sequence[type[Exception]] = DEFAULT_RETRY_EXCEPTIONS,
) -> RetryingSession:
    """A session that retries as dlt's [runtime] settings say and leaves every answer's status to the caller
    (whose messages say what to fix); `retry_condition` adds answers to retry beyond 429/5xx,
    `retry_exceptions` are the transport errors retried (dlt's: connection errors and timeouts)."""
    runtime = resolve_configuration(RuntimeConfiguration())
    client = Client(
        request_timeout=request_timeout,
        raise_for_status=False,
        retry_condition=retry_condition,
        exceptions=retry_exceptions,
        request_max_attempts=runtime.request_max_attempts,
        request_backoff_factor=runtime.request_backoff_factor,
        request_max_retry_delay=runtime.request_max_retry_delay,
    )
    return RetryingSession(client.session, runtime)
