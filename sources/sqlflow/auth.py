"""SQLFlow's token exchange as a dlt auth class.

`secretKey` goes to `user/generateToken` only; every other call carries `userId` + `token` as form fields
(never a header: SQLFlow ignores headers and rejects JSON bodies). The token is a JWT: it is cached until
shortly before its `exp`, and regenerated once when SQLFlow answers with code 401.
"""

import base64
import binascii
import json
import logging
import threading
import time
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from dlt.common.configuration.specs.base_configuration import NotResolved, configspec
from dlt.common.typing import TSecretStrValue
from dlt.sources.helpers.requests import RequestException, Response
from dlt.sources.helpers.rest_client.auth import AuthConfigBase
from dlt.sources.helpers.rest_client.utils import join_url
from requests import PreparedRequest
from requests import Session as BaseSession

from sources.sqlflow.envelope import (
    body_code,
    is_token_rejected,
    read_json_object,
    server_message,
)
from sources.sqlflow.errors import (
    BASE_URL_HINT,
    CREDENTIALS_HINT,
    SQLFlowAuthError,
    SQLFlowConfigError,
    SQLFlowError,
    SQLFlowUnreachableError,
)
from sources.sqlflow.transport import transport_error

logger = logging.getLogger(__name__)

GENERATE_TOKEN_ENDPOINT = "user/generateToken"
# self-hosted 5.x servers have one built-in user that needs no token exchange; its clients send "token"
LEGACY_USER_ID = "gudu|0123456789"
LEGACY_TOKEN = "token"
DEFAULT_TOKEN_LIFETIME_S = 24 * 3600
# refresh this share of the lifetime before `exp` (at most 5 minutes), so a token never expires mid-run
REFRESH_SHARE = 0.1
MAX_REFRESH_MARGIN_S = 300.0
FORM_URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
# the body as the caller built it, kept on the request so a resend can inject a new token
PLAIN_BODY_ATTR = "_sqlflow_body_without_auth"


def token_lifetime_s(token: str) -> float:
    """Seconds the JWT is valid for (`exp - iat`), read without verifying it; 24 h when unknown."""
    try:
        payload_part = token.split(".")[1]
        padded = payload_part + "=" * (-len(payload_part) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded))
        expires_at = float(payload["exp"])
        issued_at = float(payload.get("iat", time.time()))
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error, AttributeError):
        return DEFAULT_TOKEN_LIFETIME_S
    lifetime = expires_at - issued_at
    return lifetime if lifetime > 0 else DEFAULT_TOKEN_LIFETIME_S


def refresh_delay_s(lifetime_s: float) -> float:
    return lifetime_s - min(MAX_REFRESH_MARGIN_S, lifetime_s * REFRESH_SHARE)


def _multipart_field(boundary: bytes, name: str, value: str) -> bytes:
    disposition = f'Content-Disposition: form-data; name="{name}"'.encode()
    return b"--" + boundary + b"\r\n" + disposition + b"\r\n\r\n" + value.encode() + b"\r\n"


def _with_multipart_fields(body: bytes, content_type: str, fields: dict[str, str]) -> bytes:
    boundary = content_type.split("boundary=", 1)[1].split(";")[0].strip().strip('"').encode()
    closing = b"--" + boundary + b"--"
    head, found, tail = body.rpartition(closing)
    if not found:
        raise SQLFlowError("SQLFlow request: multipart body without its closing boundary")
    extra = b"".join(_multipart_field(boundary, name, value) for name, value in fields.items())
    return head + extra + closing + tail


def _with_urlencoded_fields(body: str | bytes | None, fields: dict[str, str]) -> str:
    text = body.decode() if isinstance(body, bytes) else body or ""
    kept = [(key, value) for key, value in parse_qsl(text, keep_blank_values=True) if key not in fields]
    return urlencode(kept + list(fields.items()))


def inject_form_fields(request: PreparedRequest, fields: dict[str, str]) -> None:
    """Put `fields` into a urlencoded or multipart body, replacing an earlier injection."""
    plain_body = getattr(request, PLAIN_BODY_ATTR, request.body)
    setattr(request, PLAIN_BODY_ATTR, plain_body)
    content_type = request.headers.get("Content-Type") or ""
    if content_type.startswith(MULTIPART):
        request.body = _with_multipart_fields(plain_body, content_type, fields)
    elif plain_body is None or content_type.startswith(FORM_URLENCODED):
        request.body = _with_urlencoded_fields(plain_body, fields)
        request.headers["Content-Type"] = FORM_URLENCODED
    else:
        raise SQLFlowError(
            f"SQLFlow request to {request.url}: a {content_type or 'raw'} body cannot carry userId/token; "
            "SQLFlow takes form fields only (it rejects JSON bodies with HTTP 400)"
        )
    request.prepare_content_length(request.body)


@configspec
class SQLFlowTokenAuth(AuthConfigBase):
    """userId + token form fields for every request; the token comes from user/generateToken. None at all for
    a server that ignores tokens."""

    base_url: str = None
    user_id: str = None
    secret_key: TSecretStrValue = None
    request_timeout: float = 60.0
    max_attempts: int = 1  # of the session's retries, for error messages
    # a self-hosted server (6.1.0.1+) set to ignore_user_token=true takes calls with neither userId nor token
    ignore_user_token: bool = False
    session: Annotated[BaseSession, NotResolved()] = None

    def __post_init__(self) -> None:
        self._token: str | None = None
        self._refresh_at = 0.0
        self._issued: list[str] = []  # every token this instance obtained, so messages can mask them
        self._lock = threading.Lock()
        if self.session is None:
            from dlt.sources.helpers import requests

            self.session = requests.client.session

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, user_id={self.user_id!r})"

    __str__ = __repr__

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        if self.ignore_user_token:
            return request
        inject_form_fields(request, self.form_fields())
        request.register_hook("response", self.resend_once_with_new_token)
        return request

    def form_fields(self, force_new: bool = False) -> dict[str, str]:
        return {"userId": self.user_id, "token": self.token(force_new)}

    def token(self, force_new: bool = False) -> str:
        """The cached token, or a new one when there is none, it is about to expire, or `force_new`."""
        self.require_credentials()
        if self.user_id == LEGACY_USER_ID:
            return LEGACY_TOKEN
        with self._lock:
            if force_new or self._token is None or time.monotonic() >= self._refresh_at:
                self._token = self.generate_token()
                self._issued.append(self._token)
                self._refresh_at = time.monotonic() + refresh_delay_s(token_lifetime_s(self._token))
            return self._token

    def require_credentials(self) -> None:
        if self.user_id == LEGACY_USER_ID:
            return
        missing = [name for name in ("user_id", "secret_key") if not getattr(self, name)]
        if missing:
            names = ", ".join(missing)
            raise SQLFlowConfigError(f"SQLFlow credentials missing ({names}): {CREDENTIALS_HINT}.")

    def generate_token(self) -> str:
        """POST userId + secretKey to user/generateToken; the token is top-level, `code` the string "200"."""
        url = join_url(self.base_url, GENERATE_TOKEN_ENDPOINT)
        try:
            response = self.session.post(
                url, data={"userId": self.user_id, "secretKey": self.secret_key}, timeout=self.request_timeout
            )
        except RequestException as error:
            failure = transport_error(
                GENERATE_TOKEN_ENDPOINT, url, error, self.request_timeout, self.max_attempts, self.redact
            )
            # without a token no call can be made: even a slow token answer leaves the server unusable
            raise SQLFlowUnreachableError(str(failure)) from None
        body = read_json_object(response, GENERATE_TOKEN_ENDPOINT, self.redact)
        code = body_code(body, response)
        if code == "401" or response.status_code == 401:
            raise SQLFlowAuthError(
                f"SQLFlow {GENERATE_TOKEN_ENDPOINT} rejected userId {self.user_id!r} and its secret key "
                f"(code 401: {self.redact(server_message(body))}): {CREDENTIALS_HINT}."
            )
        token = body.get("token")
        if response.status_code >= 400 or code != "200" or not isinstance(token, str) or not token:
            raise SQLFlowError(
                f"SQLFlow {GENERATE_TOKEN_ENDPOINT} gave no token (HTTP {response.status_code}, code {code}: "
                f"{self.redact(server_message(body))}). {BASE_URL_HINT}"
            )
        logger.info("SQLFlow: obtained a token for userId %s", self.user_id)
        return token

    def resend_once_with_new_token(self, response: Response, **send_kwargs: Any) -> Response:
        """requests response hook: on code 401 get a new token and resend once (like HTTPDigestAuth).

        The resend goes straight to the connection, so it does not come back through this hook: a second
        401 reaches the envelope check, which raises a clear auth error.
        """
        if not is_token_rejected(response):
            return response
        logger.warning("SQLFlow rejected the token (code 401): generating a new one and resending once")
        response.content  # noqa: B018 - read the body so the connection can be reused
        response.close()
        request = response.request
        inject_form_fields(request, self.form_fields(force_new=True))
        resent = response.connection.send(request, **send_kwargs)
        resent.history.append(response)
        resent.request = request
        return resent

    def redact(self, text: str) -> str:
        """`text` with the secret key and every token this instance obtained masked."""
        for secret in [self.secret_key, *self._issued]:
            if secret and secret != LEGACY_TOKEN:
                text = text.replace(secret, "***")
        return text
