"""A local server speaking Gudu SQLFlow's REST protocol (sqlflow-api.md), for the demo and the tests.

Real HTTP on 127.0.0.1, under `/gspLive_backend`: the form-field token exchange (HS256 JWTs, string
`code` on generateToken, in-body 401 at HTTP 200), POST-only form/multipart transport (a JSON body is a
Spring-style HTTP 400), query-mode lineage, jobs (summaries, export with the "latest job" fallback,
submit), 203 warnings, summary mode over the relation limit, "service busy", late answers for heavy SQL.
Lineage is computed from the SQL text by `demo.sqlflow_lineage` (sqlglot), so the demo SQL under `demo/sql/`
drives what it answers.

    with SQLFlowStandIn() as sqlflow:
        requests.post(f"{sqlflow.base_url}/user/generateToken", data={"userId": ..., "secretKey": ...})

Run it as a process: `python -m demo.sqlflow_standin --port 8165` (prints its base_url; stops on SIGTERM).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import email.parser
import email.policy
import hashlib
import hmac
import json
import secrets
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from demo.sqlflow_lineage import analyze, render_sqlflow, summarize

PREFIX = "/gspLive_backend"
DEMO_USER_ID = "demo|taskline"
DEMO_USERS = {DEMO_USER_ID: "taskline-demo-secret"}
LEGACY_USER_ID = "gudu|0123456789"  # on-prem <= 5.x: no exchange, the literal token "token"
LEGACY_TOKEN = "token"
DEMO_USER_EMAIL = "demo@taskline.local"
DENIED = "Invalid user or token, access deny."
BUSY = "Sorry, the service is busy. Please try again later."
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # SQLFlow's createTime / lastExecuteTime, server-local
SQL_DIR = Path(__file__).resolve().parent / "sql"
FINAL_STATUSES = ("success", "partial_success", "fail")


@dataclass
class RecordedRequest:
    """One request as the stand-in saw it (tests assert on transport details with these)."""

    method: str
    path: str  # full path, e.g. /gspLive_backend/user/generateToken (no query string)
    query: dict[str, str]
    content_type: str  # media type only, e.g. multipart/form-data
    form: dict[str, str]  # query string + urlencoded/multipart text fields
    files: dict[str, list[tuple[str, bytes]]]  # multipart file parts: name -> [(filename, content)]
    raw_body: bytes
    headers: dict[str, str]


@dataclass
class DemoJob:
    """A SQLFlow job: its SQL files, its summary fields and the shape its lineage export takes."""

    job_name: str
    files: dict[str, str]  # file name -> SQL text
    status: str = "success"
    job_id: str = ""  # 32 hex; derived from the name when empty
    db_vendor: str = "dbvpostgresql"
    create_time: str = "2026-11-20 02:00:00"
    last_execute_time: str | None = None
    error_message: str | None = None
    layout: str = "flat"  # "flat" dbobjs list, or the "tree" {servers:[...]}
    relations_key: str = "relationships"  # or the older "relations"
    pseudo_column: str = "RelationRows"  # or the older "PseudoRows"
    show_relation_type: str = "fdd"
    ignore_record_set: bool = True
    user_id: str | None = None  # None: every user sees it (as their own)
    execute_time: str = "0min 1sec"
    extra: dict = field(default_factory=dict)  # further summary fields, e.g. hasMetadata

    def __post_init__(self) -> None:
        self.job_id = self.job_id or hashlib.md5(f"taskline-demo-{self.job_name}".encode()).hexdigest()

    @property
    def session_id(self) -> str:
        digest = hashlib.sha256(self.job_id.encode()).hexdigest()
        millis = int(datetime.strptime(self.create_time, TIME_FORMAT).replace(tzinfo=UTC).timestamp() * 1000)
        return f"{digest}_{millis}"


# How each demo job (SQL in demo/sql/jobs/<name>/) presents itself. broken_upload is the newest, so an export
# without jobId ("latest job") returns the lineage a correct client must never load: a failed job's.
DEMO_JOB_SETTINGS: dict[str, dict] = {
    "nightly_marts": {
        "create_time": "2026-11-20 02:00:00",
        "last_execute_time": "2026-11-21 02:00:07",
        "execute_time": "0min 7sec",
    },
    "reporting_views": {
        "create_time": "2026-11-20 03:15:00",
        "last_execute_time": "2026-11-20 03:15:02",
        "execute_time": "0min 2sec",
        "layout": "tree",
        "relations_key": "relations",
        "pseudo_column": "PseudoRows",
        "show_relation_type": "fdd,fdr",
    },
    "finance_partial": {
        "status": "partial_success",
        "create_time": "2026-11-20 04:30:00",
        "extra": {"hasMetadata": True, "cancelSchedule": True},
    },
    "broken_upload": {
        "status": "fail",
        "create_time": "2026-11-21 09:45:00",
        "last_execute_time": "2026-11-21 09:45:01",
        "execute_time": "0min 1sec",
    },
}


def demo_jobs(sql_dir: Path = SQL_DIR) -> list[DemoJob]:
    """The demo jobs, built from `<sql_dir>/jobs/<job_name>/*.sql` and DEMO_JOB_SETTINGS."""
    jobs = []
    for name, settings in DEMO_JOB_SETTINGS.items():
        paths = sorted((sql_dir / "jobs" / name).glob("*.sql"))
        jobs.append(
            DemoJob(job_name=name, files={p.name: p.read_text() for p in paths}, **copy.deepcopy(settings))
        )
    return jobs


class SQLFlowError(Exception):
    """Ends a request with this HTTP status and JSON body."""

    def __init__(self, http_status: int, body: dict):
        super().__init__(body)
        self.http_status = http_status
        self.body = body


class SQLFlowStandIn:
    """Serves the SQLFlow protocol on 127.0.0.1:<free port> in a background thread (a context manager)."""

    def __init__(
        self,
        users: dict[str, str] | None = None,
        token_ttl_s: float = 3600,
        jobs: list[DemoJob] | None = None,
        relation_limit: int = 1000,
        *,
        port: int = 0,
        legacy_user: bool = True,
        ignore_user_token: bool = False,
        query_layout: str = "flat",
        query_relations_key: str = "relationships",
    ):
        self.users = dict(DEMO_USERS if users is None else users)
        self.token_ttl_s = token_ttl_s
        self.relation_limit = relation_limit
        self.legacy_user = legacy_user
        # a self-hosted 6.1.0.1+ server with ignore_user_token=true: every call is the admin's, no token
        self.ignore_user_token = ignore_user_token
        self.query_layout = query_layout  # shape of /generation/sqlflow answers (jobs choose their own)
        self.query_relations_key = query_relations_key
        self.requests: list[RecordedRequest] = []
        self.tokens_issued = 0
        self._lock = threading.RLock()
        self._jobs: dict[str, DemoJob] = {}
        for job in demo_jobs() if jobs is None else jobs:
            self.add_job(job)
        self._secret = secrets.token_bytes(32)
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (userId, expires at)
        self._failures: list[tuple[str, int, dict | str]] = []
        self._answered_sql: dict[str, tuple[int, dict | str]] = {}
        self._slow_sql: dict[str, float] = {}  # marker -> seconds before the answer
        self._busy = 0
        self._last_iat = 0
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> SQLFlowStandIn:
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", self._port), _Handler)
            self._server.daemon_threads = True
            self._server.standin = self  # type: ignore[attr-defined]
            # a short poll interval: stop() (once per test) returns quickly
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name="sqlflow-standin", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> SQLFlowStandIn:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("SQLFlow stand-in is not started")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    # ---- test controls --------------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Every token issued so far stops working (in-body 401), as if its 24 h had passed."""
        with self._lock:
            self._tokens.clear()

    def fail_next(self, path: str, http_status: int = 500, body: dict | str | None = None) -> None:
        """The next request to `path` (with or without the /gspLive_backend prefix) gets this answer."""
        full = path if path.startswith(PREFIX) else PREFIX + path
        default = {"code": http_status, "error": f"stand-in failure injected for {full}"}
        with self._lock:
            self._failures.append((full, http_status, default if body is None else body))

    def answer_sql(self, marker: str, http_status: int = 200, body: dict | str | None = None) -> None:
        """Every query-mode call whose SQL contains `marker` gets this answer (a recorded body, or a failure),
        until cleared with http_status=0: by default the cloud's in-body `code: 500` on a valid file (Gudu's
        own clients saw it)."""
        with self._lock:
            if http_status == 0:
                self._answered_sql.pop(marker, None)
                return
            self._answered_sql[marker] = (
                http_status,
                body or {"code": 500, "error": "internal server error"},
            )

    def slow_sql(self, marker: str, delay_s: float) -> None:
        """Every query-mode call or job export whose SQL contains `marker` is answered (as usual) only after
        `delay_s` seconds, as heavy SQL is on a real server; cleared with delay_s=0."""
        with self._lock:
            if delay_s:
                self._slow_sql[marker] = delay_s
            else:
                self._slow_sql.pop(marker, None)

    def set_busy(self, calls: int) -> None:
        """The next `calls` requests (any endpoint) answer HTTP 500 "Sorry, the service is busy..."."""
        with self._lock:
            self._busy = calls

    def add_job(self, job: DemoJob) -> DemoJob:
        """Add a job, or replace the one with the same job_id."""
        with self._lock:
            self._jobs[job.job_id] = job
        return job

    def update_job(
        self,
        job_id_or_name: str,
        *,
        status: str | None = None,
        last_execute_time: str | None = None,
        error_message: str | None = None,
        files: dict[str, str] | None = None,
    ) -> DemoJob:
        """Simulate a re-run: lastExecuteTime moves (default: 1 h after the job's last change), status etc."""
        with self._lock:
            job = self.job(job_id_or_name)
            if last_execute_time is None:
                changed = datetime.strptime(job.last_execute_time or job.create_time, TIME_FORMAT)
                last_execute_time = (changed + timedelta(hours=1)).strftime(TIME_FORMAT)
            job.last_execute_time = last_execute_time
            job.status = status or job.status
            job.error_message = error_message if error_message is not None else job.error_message
            job.files = files if files is not None else job.files
            return job

    def job(self, job_id_or_name: str) -> DemoJob:
        with self._lock:
            for job in self._jobs.values():
                if job_id_or_name in (job.job_id, job.job_name):
                    return job
        raise KeyError(f"no job {job_id_or_name!r} in the SQLFlow stand-in")

    @property
    def jobs(self) -> list[DemoJob]:
        with self._lock:
            return list(self._jobs.values())

    def calls(self, endpoint: str) -> list[RecordedRequest]:
        """Recorded requests to one endpoint, e.g. calls("/user/generateToken")."""
        full = endpoint if endpoint.startswith(PREFIX) else PREFIX + endpoint
        return [r for r in self.requests if r.path == full]

    # ---- request pipeline -----------------------------------------------------------------------------
    def handle(self, request: RecordedRequest) -> tuple[int, dict | str]:
        with self._lock:
            self.requests.append(request)
        route = ROUTES.get(request.path)
        if route is None:
            return _spring_error(404, request.path)
        if request.method != "POST":
            return _spring_error(405, request.path)
        injected = self._take_injected(request.path)
        if injected is not None:
            return injected
        if request.content_type == "application/json":
            return _spring_error(400, request.path)  # @RequestParam finds nothing in a JSON body
        try:
            return 200, route(self, request)
        except SQLFlowError as error:
            return error.http_status, error.body

    def _take_injected(self, path: str) -> tuple[int, dict | str] | None:
        with self._lock:
            for index, (failing_path, status, body) in enumerate(self._failures):
                if failing_path == path:
                    del self._failures[index]
                    return status, body
            if self._busy > 0:
                self._busy -= 1
                return 500, {"code": 500, "error": BUSY}
        return None

    def _answer_late(self, *sql_texts: str) -> None:
        with self._lock:
            delays = [
                delay_s
                for marker, delay_s in self._slow_sql.items()
                if any(marker in sql for sql in sql_texts)
            ]
        time.sleep(max(delays, default=0))  # outside the lock: other requests are answered meanwhile

    # ---- auth -----------------------------------------------------------------------------------------
    def _issue_token(self, user_id: str) -> str:
        """A JWT with exactly aud/iat/exp; the validity (to the sub-second) is kept server-side."""
        issued = time.time()
        with self._lock:
            # a later token always differs from an earlier (possibly expired) one, even within a second
            self._last_iat = iat = max(int(issued), self._last_iat + 1)
            header = {"typ": "JWT", "alg": "HS256"}
            payload = {"aud": "gudusoft", "iat": iat, "exp": iat + int(self.token_ttl_s)}
            signing_input = f"{_b64(json.dumps(header))}.{_b64(json.dumps(payload))}"
            signature = hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest()
            token = f"{signing_input}.{_b64(signature)}"
            self._tokens[token] = (user_id, issued + self.token_ttl_s)
            self.tokens_issued += 1
        return token

    def _authenticate(self, form: dict[str, str]) -> str:
        if self.ignore_user_token:
            return form.get("userId") or LEGACY_USER_ID
        user_id, token = form.get("userId", ""), form.get("token", "")
        if self.legacy_user and user_id == LEGACY_USER_ID and token == LEGACY_TOKEN:
            return user_id
        with self._lock:
            owner, expires_at = self._tokens.get(token, ("", 0.0))
        if not user_id or owner != user_id or time.time() >= expires_at or not self._signed(token):
            raise SQLFlowError(200, {"code": 401, "error": DENIED})
        return user_id

    def _signed(self, token: str) -> bool:
        signing_input, _, signature = token.rpartition(".")
        expected = _b64(hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest())
        return hmac.compare_digest(signature, expected)

    # ---- endpoints ------------------------------------------------------------------------------------
    def generate_token(self, request: RecordedRequest) -> dict:
        user_id, secret = request.form.get("userId", ""), request.form.get("secretKey", "")
        known = self.users.get(user_id)
        legacy = self.legacy_user and user_id == LEGACY_USER_ID
        if not legacy and (known is None or not hmac.compare_digest(known, secret)):
            return {"code": "401", "error": DENIED}
        return {"code": "200", "userId": user_id, "token": self._issue_token(user_id)}

    def generation_sqlflow(self, request: RecordedRequest) -> dict:
        self._authenticate(request.form)
        sql = request.form.get("sqltext") or _first_file_text(request.files.get("sqlfile"))
        if not sql:
            raise SQLFlowError(400, _spring_error(400, request.path)[1])
        with self._lock:
            answers = [answer for marker, answer in self._answered_sql.items() if marker in sql]
        self._answer_late(sql)
        if answers:
            raise SQLFlowError(*answers[0])
        model = analyze(
            {"sqltext": sql},
            request.form.get("dbvendor") or "dbvoracle",
            request.form.get("showRelationType") or "fdd",
        )
        if self._summary_only(model, request.form):
            data = {"mode": "summary", "summary": summarize(model, self.query_relations_key)}
        else:
            data = render_sqlflow(model, self.query_layout, self.query_relations_key)
        return _envelope(model, data, _session_id(sql))

    def jobs_summary(self, request: RecordedRequest) -> dict:
        user_id = self._authenticate(request.form)
        jobs = sorted(self._visible_jobs(user_id), key=lambda j: j.create_time, reverse=True)
        details = [self._job_summary(job, user_id) for job in jobs]
        statuses = [d["status"] for d in details]
        data = {
            "total": len(details),
            "success": statuses.count("success"),
            "partialSuccess": statuses.count("partial_success"),
            "fail": statuses.count("fail"),
            "jobIds": [d["jobId"] for d in details],
            "jobDetails": details,
        }
        return {"code": 200, "data": data}

    def export_lineage(self, request: RecordedRequest) -> dict:
        user_id = self._authenticate(request.form)
        job = self._find_job(user_id, request.form, latest_when_missing=True)
        self._answer_late(*job.files.values())
        if job.status not in FINAL_STATUSES:
            return {"code": 500, "error": f"The job {job.job_id} is still running, please try again later."}
        # the job's settings were frozen at submit time; the request can only ask for more types
        relation_types = f"{job.show_relation_type},{request.form.get('showRelationType', '')}"
        model = analyze(job.files, job.db_vendor, relation_types, job.pseudo_column)
        data: dict = {"mode": "summary", "summary": summarize(model, job.relations_key)}
        if not self._summary_only(model, request.form):
            data["mode"] = "global"
            data["sqlflow"] = render_sqlflow(model, job.layout, job.relations_key)
            data["graph"] = {
                "relationshipIdMap": {},
                "elements": {"tables": [], "edges": []},
                "tooltip": {},
                "listIdMap": {},
            }
        return {"jobId": job.job_id, **_envelope(model, data, job.session_id)}

    # ---- jobs -----------------------------------------------------------------------------------------
    def _visible_jobs(self, user_id: str) -> list[DemoJob]:
        return [j for j in self.jobs if j.user_id in (None, user_id)]

    def _find_job(self, user_id: str, form: dict[str, str], latest_when_missing: bool = False) -> DemoJob:
        jobs = self._visible_jobs(user_id)
        wanted_id, wanted_name = form.get("jobId"), form.get("jobName")
        if not wanted_id and not wanted_name and latest_when_missing and jobs:
            return max(jobs, key=lambda j: j.create_time)  # the real server silently exports the latest job
        for job in jobs:
            if (wanted_id and job.job_id == wanted_id) or (not wanted_id and wanted_name == job.job_name):
                return job
        raise SQLFlowError(
            200, {"code": 404, "error": f"Job not found: {wanted_id or wanted_name or '(none)'}"}
        )

    @staticmethod
    def _failure_message(job: DemoJob) -> str:
        return f"Analyze sql failed: {analyze(job.files, job.db_vendor).error_text or 'no lineage found'}"

    def _job_summary(self, job: DemoJob, user_id: str) -> dict:
        status = job.status
        summary = {
            "jobId": job.job_id,
            "jobName": job.job_name,
            "userId": job.user_id or user_id,
            "userEmail": DEMO_USER_EMAIL,
            "dbVendor": job.db_vendor,
            "showRelationType": job.show_relation_type,
            "ignoreRecordSet": job.ignore_record_set,
            "dataflowOfAggregateFunction": "direct",
            "showConstantTable": False,
            "showTransform": False,
            "ignoreFunction": True,
            "fileNames": list(job.files),
            "createTime": job.create_time,
            "status": status,
            "sessionId": job.session_id,
            "executeTime": job.execute_time,
            "executeTimeMillis": 0,
            "onTop": False,
            "parallel": False,
            "persist": False,
            "incremental": False,
            "schedulable": False,
            "cancelSchedule": False,
            "subJobs": [],
            "version": "5.2.0",
            **job.extra,
        }
        if job.last_execute_time:
            summary["lastExecuteTime"] = job.last_execute_time
        if status == "fail":
            summary["errorMessage"] = job.error_message or self._failure_message(job)
        return summary

    def _summary_only(self, model, form: dict[str, str]) -> bool:
        full = form.get("returnFullRelationship", "false").lower() == "true"
        return len(model.relationships) > self.relation_limit and not full


ROUTES = {
    f"{PREFIX}/user/generateToken": SQLFlowStandIn.generate_token,
    f"{PREFIX}/sqlflow/generation/sqlflow": SQLFlowStandIn.generation_sqlflow,
    f"{PREFIX}/sqlflow/job/displayUserJobsSummary": SQLFlowStandIn.jobs_summary,
    f"{PREFIX}/sqlflow/job/exportLineageAsJson": SQLFlowStandIn.export_lineage,
}


def _envelope(model, data: dict, session_id: str) -> dict:
    """code 200, or 203 when the parser had problems (messages joined by CRLF in `error`)."""
    body: dict = {"code": 203 if model.errors else 200, "data": data}
    if model.error_text:
        body["error"] = model.error_text
    body["sessionId"] = session_id
    return body


def _session_id(sql: str) -> str:
    return f"{hashlib.sha256(sql.encode()).hexdigest()}_{int(time.time() * 1000)}"


def _spring_error(status: int, path: str) -> tuple[int, dict]:
    """Spring Boot's default error body."""
    reason = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}[status]
    timestamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "+0000")
    return status, {"timestamp": timestamp, "status": status, "error": reason, "path": path}


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _first_file_text(parts: list[tuple[str, bytes]] | None) -> str:
    return parts[0][1].decode("utf-8", "replace") if parts else ""


def _parse_body(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, list[tuple[str, bytes]]]]:
    """Text fields and file parts of an urlencoded or multipart body."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)), {}
    if media_type != "multipart/form-data":
        return {}, {}
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, str] = {}
    files: dict[str, list[tuple[str, bytes]]] = {}
    for part in message.iter_parts() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        content = part.get_payload(decode=True) or b""
        if filename is not None:
            files.setdefault(name, []).append((filename, content))
        elif name is not None:
            fields.setdefault(name, content.decode(part.get_content_charset() or "utf-8", "replace"))
    return fields, files


class _Handler(BaseHTTPRequestHandler):
    server_version = "SQLFlowStandIn/1.0"

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        fields, files = _parse_body(content_type, body)
        request = RecordedRequest(
            method=self.command,
            path=url.path,
            query=query,
            content_type=content_type.split(";")[0].strip().lower(),
            form={**fields, **query},  # like Spring's getParameter: the query string value comes first
            files=files,
            raw_body=body,
            headers=dict(self.headers.items()),
        )
        status, payload = self.server.standin.handle(request)  # type: ignore[attr-defined]
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        if status == 405:
            self.send_header("Allow", "POST")
        self.send_header("Content-Length", str(len(data)))
        # a client that timed out has closed the connection: the late answer has no one to go to
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.end_headers()
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def do_HEAD(self) -> None:
        self.send_response(405)
        self.send_header("Allow", "POST")
        self.end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet: tests read .requests instead
        return


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the SQLFlow stand-in until SIGTERM / Ctrl-C.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--token-ttl", type=float, default=3600, help="token lifetime in seconds")
    parser.add_argument("--relation-limit", type=int, default=1000)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with SQLFlowStandIn(
        token_ttl_s=args.token_ttl, relation_limit=args.relation_limit, port=args.port
    ) as server:
        print(server.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


if __name__ == "__main__":
    main()
