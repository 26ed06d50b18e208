"""The SQLFlow response envelope, checked on every call.

SQLFlow reports most failures inside an HTTP 200 body (`{"code": 401, "error": ...}`), so both the HTTP
status and the body `code` are checked. Codes 200 and 203 carry data; 203 means "parsed, with warnings".
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dlt.sources.helpers.requests import Response

from sources.sqlflow.errors import BASE_URL_HINT, CREDENTIALS_HINT, SQLFlowAuthError, SQLFlowError

logger = logging.getLogger(__name__)

DATA_CODES = ("200", "203")
TOKEN_REJECTED_CODE = "401"
# documented overload answer; its code is undocumented, so the text is what identifies it
BUSY_MESSAGE = "service is busy"
SUMMARY_MODE = "summary"
EXCERPT_CHARS = 160

Redactor = Callable[[str], str]


@dataclass
class Envelope:
    """A successful SQLFlow answer: `data` plus the warnings it came with."""

    endpoint: str
    code: int
    data: dict[str, Any]
    session_id: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def mode(self) -> str | None:
        return self.data.get("mode")


def no_redaction(text: str) -> str:
    return text


def body_excerpt(response: Response, redact: Redactor) -> str:
    """The start of a body, on one line, for error messages."""
    text = " ".join(response.text.split())
    return redact(text[:EXCERPT_CHARS]) + ("..." if len(text) > EXCERPT_CHARS else "")


def read_json_object(response: Response, endpoint: str, redact: Redactor = no_redaction) -> dict[str, Any]:
    """The body as a JSON object, or a clear error saying what came back instead."""
    content_type = response.headers.get("Content-Type", "")
    try:
        body = response.json()
    except ValueError:
        looks_like_html = "html" in content_type.lower() or response.text.lstrip().startswith("<")
        what = "an HTML page" if looks_like_html else f"a non-JSON body ({content_type or 'no content type'})"
        raise SQLFlowError(
            f"SQLFlow {endpoint} answered HTTP {response.status_code} with {what}: "
            f"{body_excerpt(response, redact)!r}. Is a proxy or another service answering? {BASE_URL_HINT}"
        ) from None
    if not isinstance(body, dict):
        raise SQLFlowError(
            f"SQLFlow {endpoint} answered HTTP {response.status_code} with JSON that is not an object: "
            f"{body_excerpt(response, redact)!r}"
        )
    return body


def body_code(body: dict[str, Any], response: Response) -> str:
    """The in-body code as a string (generateToken sends "200", others 200); the HTTP status if absent."""
    return str(body.get("code", response.status_code)).strip()


def server_message(body: dict[str, Any]) -> str:
    message = body.get("error") or body.get("message") or "no error message"
    return message if isinstance(message, str) else str(message)


def is_token_rejected(response: Response) -> bool:
    """HTTP 401, or the usual HTTP 200 with an in-body code 401."""
    if response.status_code == 401:
        return True
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and str(body.get("code")).strip() == TOKEN_REJECTED_CODE


def is_busy(response: Response | None, exception: BaseException | None) -> bool:
    """Retry predicate for dlt's Client: the documented 'service is busy' answer, whatever its code."""
    return response is not None and BUSY_MESSAGE in response.text.lower()


def warning_lines(body: dict[str, Any]) -> list[str]:
    """Parser warnings that SQLFlow puts in `error` of a successful answer, one per line."""
    message = body.get("error")
    if not message:
        return []
    lines = message if isinstance(message, list) else str(message).splitlines()
    return [line.strip() for line in map(str, lines) if line.strip()]


def read_envelope(response: Response, endpoint: str, redact: Redactor = no_redaction) -> Envelope:
    """Check HTTP status and body code; return data and warnings, or raise a clear SQLFlowError."""
    body = read_json_object(response, endpoint, redact)
    code = body_code(body, response)
    message = redact(server_message(body))
    if code == TOKEN_REJECTED_CODE or response.status_code == 401:
        raise SQLFlowAuthError(
            f"SQLFlow {endpoint} rejected the credentials (code 401: {message}) even with a freshly "
            f"generated token: {CREDENTIALS_HINT}."
        )
    if response.status_code >= 400 or code not in DATA_CODES:
        raise SQLFlowError(
            f"SQLFlow {endpoint} failed with HTTP {response.status_code}, code {code}: {message}", code=code
        )
    data = body.get("data")
    if not isinstance(data, dict):
        raise SQLFlowError(
            f"SQLFlow {endpoint} answered code {code} without a `data` object: "
            f"{body_excerpt(response, redact)!r}"
        )
    warnings = [redact(line) for line in warning_lines(body)]
    if code == "203":
        logger.warning("SQLFlow %s answered code 203 with warnings: %s", endpoint, warnings)
    return Envelope(endpoint, int(code), data, body.get("sessionId"), warnings)
