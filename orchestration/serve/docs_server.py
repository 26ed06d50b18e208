"""`make docs` and `make dashboards`: serve the dbt docs or the dashboards the latest runs built (no dbt, no
warehouse connection, no lock).

The run that builds the marts refreshes the docs in the same process, while it holds the warehouse
(orchestration/dbt/docs.py); the dashboards' run builds their site and puts it in place whole
(orchestration/dashboards/site.py). Serving them never competes with a load.

Loopback only: on a server they are at /docs/ and /dashboards/ of `make serve`, behind its login.
"""

import argparse
import contextlib
import io
import re
import sys
import urllib.parse
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from orchestration import settings
from orchestration.keys import DASHBOARDS_FALLBACK_PAGE

HOST = "127.0.0.1"
# one range of a file, as browsers and DuckDB-Wasm ask: `bytes=0-99`, `bytes=100-`, `bytes=-8`
BYTE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass(frozen=True)
class Served:
    """What `make <command>` serves: its files, under which path, on the port of which setting."""

    command: str
    what: str
    directory: Path
    port_setting: str
    built_by: str
    prefix: str = ""
    fallback: str = ""


def served(name: str) -> Served:
    if name == "dashboards":
        return Served(
            "dashboards",
            "the dashboards",
            settings.dashboards_dir() / "site",
            settings.DASHBOARDS_PORT,
            "the dashboards_build job (and `make demo`)",
            "/dashboards",
            DASHBOARDS_FALLBACK_PAGE,
        )
    return Served(
        "docs", "the dbt docs", settings.docs_dir(), settings.DOCS_PORT, "every run that builds the marts"
    )


class UnderPrefix(SimpleHTTPRequestHandler):
    """Files under a path prefix (the dashboards' base path; `/` goes there), and byte ranges of them: the
    dashboards' DuckDB-Wasm reads its Parquet files by range, and a whole file where it asked for its end reads
    as a broken one. A page's address (it ends in /) that is no file gets the fallback page, if there is one:
    it renders the dashboards' pages that were not prerendered in the browser. Any other missing file is a
    404, as the pages' scripts expect."""

    prefix = ""
    fallback = ""

    def do_GET(self) -> None:
        if self.under_prefix():
            super().do_GET()

    def do_HEAD(self) -> None:
        if self.under_prefix():
            super().do_HEAD()

    def under_prefix(self) -> bool:
        if self.prefix and not self.path.startswith(self.prefix + "/"):
            self.send_response(301)
            self.send_header("Location", self.prefix + "/")
            self.end_headers()
            return False
        self.path = self.path[len(self.prefix) :]
        page = urllib.parse.urlsplit(self.path).path
        if (
            self.fallback
            and page.endswith("/")
            and not (Path(self.translate_path(page)) / "index.html").is_file()
        ):
            self.path = "/" + self.fallback
        return True

    def end_headers(self) -> None:
        self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def send_head(self):
        wanted = BYTE_RANGE.fullmatch(self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if wanted is None or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        first, last = wanted.groups()
        start = int(first) if first else max(size - int(last or 0), 0)
        end = min(int(last), size - 1) if first and last else size - 1
        if start > end:
            self.send_error(416, "Range Not Satisfiable")
            return None
        with path.open("rb") as file:
            file.seek(start)
            part = file.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        return io.BytesIO(part)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", nargs="?", choices=("docs", "dashboards"), default="docs")
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    files = served(args.what)
    port = args.port or int(settings.value(files.port_setting))
    if not (files.directory / "index.html").exists():
        sys.exit(
            f"make {files.command}: nothing in {files.directory} yet. It is written by {files.built_by}: run "
            "`make demo` first."
        )
    handler = partial(
        type("Handler", (UnderPrefix,), {"prefix": files.prefix, "fallback": files.fallback}),
        directory=str(files.directory),
    )
    try:
        server = ThreadingHTTPServer((HOST, port), handler)
    except OSError as error:
        sys.exit(
            f"make {files.command}: cannot serve on {HOST}:{port} ({error.strerror}): set {files.port_setting}."
        )
    print(
        f"Serving {files.what} of {files.directory} on http://{HOST}:{port}{files.prefix}/ (Ctrl-C to stop)",
        flush=True,
    )
    with server, contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
