"""flower_source's authentication, settings and errors against recorded Flower 2.2 responses over real HTTP
(pytest-httpserver): every failure names Flower, the endpoint and the setting to fix, and no secret.
"""

import base64
import json
import re
import socket
import time

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from werkzeug import Request, Response

from orchestration.warehouse.pipelines import make_pipeline
from sources.flower import (
    FlowerAuthError,
    FlowerConfigError,
    FlowerUnreachableError,
    flower_source,
)
from tests.fixtures.recorded_flower import (
    PASSWORD,
    PROBE,
    TOKEN,
    USERNAME,
    RecordedFlower,
    load,
    load_fails,
    received_every,
    received_pages,
    respond,
)
from tests.fixtures.warehouse_reads import column_types, flower_tables, rows, warehouse

# --- auth and configuration -------------------------------------------------------------------------------


def authorization_headers(flower: RecordedFlower) -> set[str]:
    return {request.headers.get("Authorization") for request, _ in flower.server.log}


def test_basic_auth_by_default(flower):
    load(flower)

    assert authorization_headers(flower) == {
        "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    }


def test_bearer_token_replaces_basic_auth_when_set(flower):
    load(flower, token=TOKEN)

    assert authorization_headers(flower) == {f"Bearer {TOKEN}"}


def test_settings_resolve_from_the_documented_environment_variables(flower, monkeypatch):
    received_every(flower, 12, every_s=10)
    settings = {
        "BASE_URL": flower.base_url,
        "USERNAME": "env-user",
        "PASSWORD": "env-password",
        "PAGE_SIZE": "4",
        "LOOKBACK_MINUTES": "0.5",
        "INCLUDE_PAYLOADS": "false",
        "WITH_TASK_INFO": "true",
        "REQUEST_TIMEOUT": "7",
    }
    for name, value in settings.items():
        monkeypatch.setenv(f"SOURCES__FLOWER__{name}", value)

    source = flower_source()
    make_pipeline("flower").run(source)

    assert flower.requests_to("/api/tasks") == [
        "sort_by=received&limit=50&offset=0",
        *received_pages(4, 0, 3, 6, 9),
    ]
    assert authorization_headers(flower) == {"Basic " + base64.b64encode(b"env-user:env-password").decode()}
    assert "args" not in column_types("tasks")
    assert rows("select count(*) from flower.task_info") == [(12,)]

    flower.server.clear_log()
    monkeypatch.setenv("SOURCES__FLOWER__TOKEN", TOKEN)
    make_pipeline("flower").run(flower_source())
    assert authorization_headers(flower) == {f"Bearer {TOKEN}"}
    # LOOKBACK_MINUTES=0.5 took effect: the tasks were received 10 s apart, so the first page already reaches
    # below the 30 s window (with the default 10 minutes all four pages would be read again)
    assert flower.requests_to("/api/tasks") == ["sort_by=received&limit=50&offset=0", *received_pages(4, 0)]


def test_request_timeout_setting_bounds_a_hanging_flower(flower, fast_retries, monkeypatch):
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response("{}", content_type="application/json")

    flower.server.expect_oneshot_request("/api/tasks").respond_with_handler(slow)
    monkeypatch.setenv("SOURCES__FLOWER__REQUEST_TIMEOUT", "0.3")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "1")

    with pytest.raises(
        PipelineStepFailed,
        match=re.escape(
            f"Flower at {flower.base_url} did not answer GET /api/tasks?sort_by=received&limit=50&offset=0 "
            "within 0.3 s (SOURCES__FLOWER__REQUEST_TIMEOUT), 1 attempt(s) (RUNTIME__REQUEST_MAX_ATTEMPTS): "
            "ReadTimeout. Raise SOURCES__FLOWER__REQUEST_TIMEOUT for a slow Flower"
        ),
    ):
        make_pipeline("flower").run(
            flower_source(base_url=flower.base_url, username=USERNAME, password=PASSWORD)
        )
    # let the abandoned request end (and be logged) here, not in the next test's server log
    deadline = time.monotonic() + 5
    while not flower.requests_to("/api/tasks") and time.monotonic() < deadline:
        time.sleep(0.05)


def test_source_is_created_without_secrets_and_fails_clearly_at_the_first_request(flower, monkeypatch):
    for name in ("USERNAME", "PASSWORD", "TOKEN"):
        monkeypatch.delenv(f"SOURCES__FLOWER__{name}", raising=False)
    source = flower_source(base_url=flower.base_url)  # no secrets yet: creating the source must work

    with pytest.raises(PipelineStepFailed) as failure:
        make_pipeline("flower").run(source)

    assert isinstance(failure.value.__cause__.__cause__, FlowerConfigError)
    assert "Flower credentials are not configured" in str(failure.value)
    assert "set SOURCES__FLOWER__USERNAME/SOURCES__FLOWER__PASSWORD" in str(failure.value)
    assert "SOURCES__FLOWER__TOKEN" in str(failure.value)
    assert flower.server.log == []
    assert flower_tables() == set()


# --- errors -----------------------------------------------------------------------------------------------


def serve_on_every_endpoint(flower: RecordedFlower, recording: str) -> None:
    flower.server.clear_all_handlers()
    flower.server.expect_request(re.compile("/api/.*")).respond_with_response(respond(recording))


def test_wrong_password_names_flower_http_401_and_the_settings_without_the_secret(flower):
    serve_on_every_endpoint(flower, "auth_wrong_password")

    error = load_fails(flower)

    assert isinstance(error, FlowerAuthError)
    assert re.fullmatch(
        re.escape(f"Flower at {flower.base_url} rejected the credentials (HTTP 401) for ")
        + r"/api/\S+: check SOURCES__FLOWER__USERNAME/SOURCES__FLOWER__PASSWORD",
        str(error),
    )
    assert PASSWORD not in str(error) and base64.b64encode(PASSWORD.encode()).decode() not in str(error)
    assert flower_tables() == set()


def test_rejected_token_points_at_the_token_setting(flower):
    serve_on_every_endpoint(flower, "auth_bearer")

    error = load_fails(flower, token=TOKEN)

    assert str(error).endswith("check SOURCES__FLOWER__TOKEN")
    assert TOKEN not in str(error)


def test_bad_request_names_endpoint_status_and_body(flower):
    flower.answer_at[("received", 0)] = respond("api_tasks_limit_bad")

    error = load_fails(flower)

    assert str(error) == (
        f"Flower at {flower.base_url} answered HTTP 400 for GET /api/tasks?sort_by=received&limit=50&offset=0: "
        "\"Invalid argument 'abc' of type 'int'\"."
    )


def test_not_found_points_at_the_base_url(flower):
    serve_on_every_endpoint(flower, "api_unknown_endpoint")

    error = load_fails(flower)

    assert re.match(re.escape(f"Flower at {flower.base_url} answered HTTP 404 for GET /api/"), str(error))
    assert str(error).endswith("Check SOURCES__FLOWER__BASE_URL points at Flower.")
    assert len(str(error)) < 500  # an excerpt of the HTML page, not all of it


def test_server_errors_are_retried_a_bounded_number_of_times(flower, fast_retries):
    flower.answer_at[("received", 0)] = Response("Internal Server Error", status=500)

    error = load_fails(flower)

    assert flower.requests_to("/api/tasks") == [PROBE, PROBE]
    assert str(error) == (
        f"Flower at {flower.base_url} answered HTTP 500 after 2 attempt(s) for GET "
        "/api/tasks?sort_by=received&limit=50&offset=0: 'Internal Server Error'."
    )
    assert flower_tables() == set()


def test_non_json_body_is_a_clear_error(flower):
    login_page = "<!doctype html><html><body><form action='/login'>Sign in</form></body></html>"
    flower.answer_at[("received", 0)] = Response(login_page, content_type="text/html")

    error = load_fails(flower)

    assert str(error).startswith(
        f"Flower at {flower.base_url} returned a non-JSON body for GET /api/tasks?sort_by=received&limit=50&offset=0 "
        '(HTTP 200, text/html): "<!doctype html>'
    )


def test_unexpected_json_shape_is_a_clear_error(flower):
    flower.answer_at[("received", 0)] = Response(
        json.dumps(["not", "an", "object"]), content_type="application/json"
    )

    error = load_fails(flower)

    assert str(error) == (
        f"Flower at {flower.base_url} answered GET /api/tasks?sort_by=received&limit=50&offset=0 with a JSON list, expected "
        'an object: \'["not", "an", "object"]\'. Check SOURCES__FLOWER__BASE_URL points at Flower.'
    )


def test_refused_connection_fails_after_bounded_retries(fast_retries):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"

    with pytest.raises(PipelineStepFailed) as failure:
        make_pipeline("flower").run(flower_source(base_url=base_url, username=USERNAME, password=PASSWORD))

    error = failure.value.__cause__.__cause__
    assert isinstance(error, FlowerUnreachableError)
    assert re.fullmatch(
        re.escape(f"cannot reach Flower at {base_url} (GET /api/")
        + r"\S+\) after 2 attempt\(s\) \(RUNTIME__REQUEST_MAX_ATTEMPTS\): \[Errno 111\] Connection refused\. "
        r"Is Flower running\? "
        r"Check SOURCES__FLOWER__BASE_URL\.",
        str(error),
    )
    assert flower_tables() == set()


def test_secrets_never_reach_the_warehouse_or_pipeline_files(flower):
    load(flower, with_task_info=True)

    files = [warehouse(), *warehouse().parent.rglob("*")]
    leaked = [path for path in files if path.is_file() and PASSWORD.encode() in path.read_bytes()]
    assert leaked == []
