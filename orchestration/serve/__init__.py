"""Serve: `make serve` and what it starts (no Dagster definitions: the code location is definitions.py's).

server (preflight, the Dagster webserver and daemon, processes), proxy (nginx, the login in front), login_check
(the password check behind nginx: Caddy), users (the users' file), health (`/health`), docs_server
(`make docs`), instance_storage (Dagster's instance in PostgreSQL). May import every room's light modules
(settings, warehouse/, alerts.channels, ingest.configured); nothing imports serve/.
"""
