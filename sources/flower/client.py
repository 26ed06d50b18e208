"""Flower's HTTP API through dlt's REST client: one object per server, errors that say what to fix."""

import re
from typing import Any
from urllib.parse import urlencode

from dlt.sources.helpers.requests import RequestException, Response, Timeout
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth, HttpBasicAuth

from sources.http import ATTEMPTS_SETTING, retrying_session

ERROR_EXCERPT_CHARS = 200
CLUSTERS_ENV_PREFIX = "SOURCES__FLOWER__CLUSTERS__"


def variable_prefix(cluster: str | None) -> str:
    """The environment variables of an estate's cluster start with this; of the single Flower (None), with
    SOURCES__FLOWER__."""
    return f"{CLUSTERS_ENV_PREFIX}{cluster.upper()}__" if cluster else "SOURCES__FLOWER__"


class FlowerError(RuntimeError):
    """Flower could not be read; the message names the endpoint, the status and what to fix."""


class FlowerConfigError(FlowerError):
    """The source is missing settings it needs (credentials)."""


class FlowerAuthError(FlowerError):
    """Flower rejected the credentials (HTTP 401)."""


class FlowerUnreachableError(FlowerError):
    """No HTTP answer from Flower after the configured retries."""


class FlowerApi:
    """One Flower server. The HTTP client is built at the first request, so a source can be created (e.g. by
    the Dagster definitions at import) before secrets are configured."""

    def __init__(
        self,
        base_url: str,
        username: str | None,
        password: str | None,
        token: str | None,
        request_timeout: float,
        cluster: str | None = None,
    ) -> None:
        """`cluster`: the name an estate declared this Flower under (None: the single Flower of [sources.flower]);
        errors name it and its settings."""
        self.base_url = base_url.rstrip("/")
        self.name = f"Flower of cluster {cluster}" if cluster else "Flower"
        prefix = variable_prefix(cluster)
        self._settings = {
            "basic_auth": f"{prefix}USERNAME/{prefix}PASSWORD",
            "token": f"{prefix}TOKEN",
            "base_url": f"{prefix}BASE_URL",
            "timeout": f"{prefix}REQUEST_TIMEOUT",
            "page_size": f"{prefix}PAGE_SIZE",
            "section": f"[sources.flower.clusters.{cluster}]" if cluster else "[sources.flower]",
        }
        self._username = username
        self._password = password
        self._token = token
        self._request_timeout = request_timeout
        self._client: RESTClient | None = None
        self._max_attempts = 1

    def get_object(
        self, path: str, params: dict[str, Any] | None = None, absent_ok: bool = False
    ) -> dict[str, Any] | None:
        """GET `path` and return its JSON object (every Flower endpoint read here answers one); None for a
        404 when `absent_ok`. Raises FlowerError."""
        endpoint = f"/{path}?{urlencode(params)}" if params else f"/{path}"
        response = self._get(path, params, endpoint)
        if response.status_code == 404 and absent_ok:
            return None
        self._raise_for_status(response, endpoint)
        body = self._parse_json(response, endpoint)
        if not isinstance(body, dict):
            raise FlowerError(
                f"{self.name} at {self.base_url} answered GET {endpoint} with a JSON {type(body).__name__}, "
                f"expected an object: {_excerpt(response)}. Check {self._settings['base_url']} points at Flower."
            )
        return body

    def get_text(self, path: str) -> str:
        """GET `path` and return its text body (Flower's Prometheus /metrics). Raises FlowerError."""
        response = self._get(path, None, f"/{path}")
        self._raise_for_status(response, f"/{path}")
        return response.text

    def _get(self, path: str, params: dict[str, Any] | None, endpoint: str) -> Response:
        client = self._client or self._connect()
        try:
            return client.get(path, params=params)
        except RequestException as error:  # refused, timed out, dropped: after dlt's bounded retries
            raise FlowerUnreachableError(self._unreachable(endpoint, error)) from None

    def _connect(self) -> RESTClient:
        retrying = retrying_session(self._request_timeout)
        self._max_attempts = retrying.max_attempts
        self._client = RESTClient(base_url=self.base_url, auth=self._auth(), session=retrying.session)
        return self._client

    def _auth(self) -> BearerTokenAuth | HttpBasicAuth:
        if self._token:
            return BearerTokenAuth(token=self._token)
        if self._username and self._password:
            return HttpBasicAuth(username=self._username, password=self._password)
        raise FlowerConfigError(
            f"{self.name} credentials are not configured for {self.base_url}: set {self._settings['basic_auth']} "
            f"(Flower's --basic_auth user and password), or {self._settings['token']} when a proxy in front of "
            f"Flower checks a bearer token; or put them under {self._settings['section']} in .dlt/secrets.toml."
        )

    def _unreachable(self, endpoint: str, error: RequestException) -> str:
        attempts = f"{self._max_attempts} attempt(s) ({ATTEMPTS_SETTING})"
        if isinstance(error, Timeout):
            return (
                f"{self.name} at {self.base_url} did not answer GET {endpoint} within {self._request_timeout:g} s "
                f"({self._settings['timeout']}), {attempts}: {type(error).__name__}. Raise {self._settings['timeout']} for a slow "
                f"Flower, or page less at a time ({self._settings['page_size']})."
            )
        return (
            f"cannot reach {self.name} at {self.base_url} (GET {endpoint}) after {attempts}: "
            f"{_network_reason(error)}. Is Flower running? Check {self._settings['base_url']}."
        )

    def _raise_for_status(self, response: Response, endpoint: str) -> None:
        status = response.status_code
        if status == 401:
            settings = self._settings["token" if self._token else "basic_auth"]
            raise FlowerAuthError(
                f"{self.name} at {self.base_url} rejected the credentials (HTTP 401) for {endpoint}: "
                f"check {settings}"
            )
        if status < 400:
            return
        hint = f" Check {self._settings['base_url']} points at Flower." if status == 404 else ""
        retried = f" after {self._max_attempts} attempt(s)" if status == 429 or status >= 500 else ""
        raise FlowerError(
            f"{self.name} at {self.base_url} answered HTTP {status}{retried} for GET {endpoint}: "
            f"{_excerpt(response)}.{hint}"
        )

    def _parse_json(self, response: Response, endpoint: str) -> Any:
        try:
            return response.json()
        except ValueError:
            content_type = response.headers.get("Content-Type", "no Content-Type")
            raise FlowerError(
                f"{self.name} at {self.base_url} returned a non-JSON body for GET {endpoint} "
                f"(HTTP {response.status_code}, {content_type}): {_excerpt(response)}. "
                f"Check {self._settings['base_url']} points at Flower's API."
            ) from None


def _excerpt(response: Response) -> str:
    text = " ".join(response.text.split())
    if not text:
        return "(empty body)"
    return repr(text[:ERROR_EXCERPT_CHARS] + ("…" if len(text) > ERROR_EXCERPT_CHARS else ""))


def _network_reason(error: Exception) -> str:
    """The useful tail of a requests error ('[Errno 111] Connection refused'), not its urllib3 wrapping."""
    errno = re.search(r"\[Errno -?\d+\][^'\")]*", str(error))
    return errno.group(0).strip() if errno else type(error).__name__
