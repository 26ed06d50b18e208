"""`make docs`: serve the dbt docs the latest run built (no dbt, no warehouse connection, no lock).

The run that builds the marts refreshes the docs in the same process, while it holds the warehouse
(orchestration/dbt/docs.py), so serving them never competes with a load.

Loopback only: on a server the docs are at /docs/ of `make serve`, behind its login.
"""

import argparse
import contextlib
import sys
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from orchestration import settings
from orchestration.settings import docs_dir

HOST = "127.0.0.1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=settings.value(settings.DOCS_PORT))
    args = parser.parse_args()
    docs = docs_dir()
    if not (docs / "index.html").exists():
        sys.exit(
            f"make docs: no dbt docs in {docs} yet. They are written by every run that builds the marts: "
            "run `make demo`, or a load job (flower_load / sqlflow_load), first."
        )
    handler = partial(SimpleHTTPRequestHandler, directory=str(docs))
    try:
        server = ThreadingHTTPServer((HOST, args.port), handler)
    except OSError as error:
        sys.exit(f"make docs: cannot serve on {HOST}:{args.port} ({error.strerror}): set DBT_DOCS_PORT.")
    print(f"Serving the dbt docs of {docs} on http://{HOST}:{args.port} (Ctrl-C to stop)", flush=True)
    with server, contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
