"""SQLFlow calls through dlt's REST client and the token auth, with dlt's bounded retries."""

import logging

from dlt.sources.helpers.requests import ChunkedEncodingError, RequestException, Response, Session
from dlt.sources.helpers.requests import ConnectionError as RequestsConnectionError
from dlt.sources.helpers.requests.retry import DEFAULT_RETRY_EXCEPTIONS as RETRIED
from dlt.sources.helpers.rest_client import RESTClient

from sources.http import retrying_session
from sources.sqlflow.auth import SQLFlowTokenAuth
from sources.sqlflow.envelope import SUMMARY_MODE, Envelope, is_busy, read_envelope
from sources.sqlflow.transport import transport_error

logger = logging.getLogger(__name__)

# what a call about one SQL file or job retries: not a read timeout, which a heavy file gives every time,
# so retrying it would cost RUNTIME__REQUEST_MAX_ATTEMPTS × the timeout for nothing.
# A connect timeout is a ConnectionError, and still retried.
ONE_ITEM_RETRIED = (RequestsConnectionError, ChunkedEncodingError)


class SQLFlowClient:
    """POSTs form fields to SQLFlow endpoints (paths relative to base_url) and checks every answer.

    Retries (5xx, 429, connection errors, timeouts and the "service is busy" answer) follow dlt's
    [runtime] request_max_attempts / request_backoff_factor / request_max_retry_delay; a call about one
    file or job (`for_one_item`) does not retry a read timeout.
    """

    def __init__(
        self,
        base_url: str,
        user_id: str | None,
        secret_key: str | None,
        request_timeout: float,
        ignore_user_token: bool = False,
    ):
        self.base_url = base_url.rstrip("/")
        self.request_timeout = request_timeout
        retrying = retrying_session(request_timeout, retry_condition=is_busy)
        self.max_attempts = retrying.max_attempts
        self.session = retrying.session
        self.auth = SQLFlowTokenAuth(
            base_url=self.base_url,
            user_id=user_id,
            secret_key=secret_key,
            request_timeout=request_timeout,
            max_attempts=retrying.max_attempts,
            session=self.session,
            ignore_user_token=ignore_user_token,
        )
        self.runtime = retrying.runtime
        self.rest = self.rest_client(self.session)
        one_item = retrying_session(
            request_timeout, retry_condition=is_busy, retry_exceptions=ONE_ITEM_RETRIED
        )
        self.one_item_rest = self.rest_client(one_item.session)

    def rest_client(self, session: Session) -> RESTClient:
        return RESTClient(base_url=self.base_url, auth=self.auth, session=session, config=self.runtime)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, user_id={self.auth.user_id!r})"

    def post(self, endpoint: str, form: dict[str, str], for_one_item: bool = False) -> Response:
        """One form POST with dlt's retries; transport failures become SQLFlowErrors. `for_one_item`: the
        call is about one SQL file or job, whose read timeout is not retried."""
        rest, retried = (self.one_item_rest, ONE_ITEM_RETRIED) if for_one_item else (self.rest, RETRIED)
        try:
            return rest.post(endpoint, data=form)
        except RequestException as error:
            url = f"{self.base_url}/{endpoint}"
            raise transport_error(
                endpoint, url, error, self.request_timeout, self.max_attempts, self.auth.redact, retried
            ) from None

    def call(self, endpoint: str, form: dict[str, str], for_one_item: bool = False) -> Envelope:
        return read_envelope(self.post(endpoint, form, for_one_item), endpoint, self.auth.redact)

    def lineage(self, endpoint: str, form: dict[str, str]) -> Envelope:
        """The lineage of one SQL text; summary mode (relation limit exceeded, no detail) is asked again in
        full, once."""
        envelope = self.call(endpoint, form, for_one_item=True)
        if envelope.mode != SUMMARY_MODE:
            return envelope
        logger.warning(
            "SQLFlow %s answered in summary mode (relation limit exceeded): asking again with "
            "returnFullRelationship=true",
            endpoint,
        )
        full = self.call(endpoint, {**form, "returnFullRelationship": "true"}, for_one_item=True)
        if full.mode == SUMMARY_MODE:
            full.warnings.append(
                "SQLFlow answered in summary mode even with returnFullRelationship=true: "
                "no column-level detail (relation limit exceeded; split the SQL)"
            )
        else:
            full.warnings.append(
                "SQLFlow first answered in summary mode (relation limit exceeded); "
                "re-requested with returnFullRelationship=true"
            )
        return full
