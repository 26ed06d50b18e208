"""SQLFlow calls through dlt's REST client and the token auth, with dlt's bounded retries."""

import logging

from dlt.sources.helpers.requests import RequestException, Response
from dlt.sources.helpers.rest_client import RESTClient

from sources.http import retrying_session
from sources.sqlflow.auth import SQLFlowTokenAuth
from sources.sqlflow.envelope import SUMMARY_MODE, Envelope, is_busy, read_envelope
from sources.sqlflow.transport import transport_error

logger = logging.getLogger(__name__)


class SQLFlowClient:
    """POSTs form fields to SQLFlow endpoints (paths relative to base_url) and checks every answer.

    Retries (5xx, 429, connection errors, timeouts and the "service is busy" answer) follow dlt's
    [runtime] request_max_attempts / request_backoff_factor / request_max_retry_delay.
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
        self.rest = RESTClient(
            base_url=self.base_url, auth=self.auth, session=self.session, config=retrying.runtime
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, user_id={self.auth.user_id!r})"

    def post(self, endpoint: str, form: dict[str, str]) -> Response:
        """One form POST with dlt's retries; transport failures become SQLFlowErrors."""
        try:
            return self.rest.post(endpoint, data=form)
        except RequestException as error:
            url = f"{self.base_url}/{endpoint}"
            raise transport_error(
                endpoint, url, error, self.request_timeout, self.max_attempts, self.auth.redact
            ) from None

    def call(self, endpoint: str, form: dict[str, str]) -> Envelope:
        return read_envelope(self.post(endpoint, form), endpoint, self.auth.redact)

    def lineage(self, endpoint: str, form: dict[str, str]) -> Envelope:
        """A lineage call; summary mode (relation limit exceeded, no detail) is asked again in full, once."""
        envelope = self.call(endpoint, form)
        if envelope.mode != SUMMARY_MODE:
            return envelope
        logger.warning(
            "SQLFlow %s answered in summary mode (relation limit exceeded): asking again with "
            "returnFullRelationship=true",
            endpoint,
        )
        full = self.call(endpoint, {**form, "returnFullRelationship": "true"})
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
