"""dbt docs for analysts: `make docs` builds them (also as one static page) and serves them."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

from sources.warehouse import publish_warehouse_path

ROOT = Path(__file__).resolve().parent.parent
DBT_DIR = ROOT / "dbt_project"
DBT = [str(Path(sys.executable).with_name("dbt")), "--no-use-colors"]
DBT_DIRS = ["--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)]


def build_docs() -> Path:
    """dbt docs generate --static; returns the single-file page."""
    publish_warehouse_path()
    subprocess.run([*DBT, "docs", "generate", "--static", *DBT_DIRS], check=True, stdout=subprocess.DEVNULL)
    return DBT_DIR / "target" / "static_index.html"


def serve_docs(port: int) -> None:
    print(f"Serving dbt docs on http://127.0.0.1:{port} (Ctrl-C to stop)")
    subprocess.run(
        [*DBT, "docs", "serve", "--port", str(port), "--host", "127.0.0.1", *DBT_DIRS], check=False
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", action="store_true", help="serve the docs after building them")
    parser.add_argument("--port", type=int, default=int(os.environ.get("DBT_DOCS_PORT", "8580")))
    args = parser.parse_args()
    page = build_docs()
    print(f"dbt docs built: {DBT_DIR / 'target' / 'index.html'} (one static page: {page})")
    if args.serve:
        serve_docs(args.port)


if __name__ == "__main__":
    main()
