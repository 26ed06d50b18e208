"""Write a small sample export following the dashboards contract (for developing the pages).

Usage: python dashboards/sample/make_sample.py OUT.duckdb [--empty]

The real export is written by the pipeline (orchestration/dashboards/export.py); this file only
fakes one so the pages can be built and looked at without a warehouse. Task names include the
awkward ones (slash, ?, #, quotes, unicode, a 300-character name) on purpose.
"""

import hashlib
import os
import random
import re
import sys
from datetime import datetime, timedelta

import duckdb

# The Evidence duckdb connector (@duckdb/node-api 1.4.x) reads storage up to v1.4; see NOTES/README.
STORAGE_VERSION = os.environ.get("TASKLINE_EXPORT_STORAGE_VERSION", "v1.4.0")


def slug(name: str) -> str:
    prefix = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.")[:60].strip("-.")
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return f"{prefix}-{digest}" if prefix else digest


SCHEMA = """
create table export_info(exported_at timestamp, engine varchar, has_data boolean);
create table runs_hourly(hour timestamp, cluster varchar, task_name varchar, runs bigint, failures bigint);
create table runs_daily(day date, cluster varchar, task_name varchar, runs bigint, failures bigint,
    failure_rate double, p50_runtime_s double, p95_runtime_s double);
create table tasks(task_name varchar, task_slug varchar, clusters varchar, runs_7d bigint, failures_7d bigint,
    failure_rate_7d double, runs_30d bigint, failures_30d bigint, failure_rate_30d double,
    last_run_at timestamp, last_failure_at timestamp, alert_level varchar);
create table open_alerts(rule varchar, cluster varchar, subject varchar, task_slug varchar, alert_level varchar,
    owner varchar, sentence varchar, since_at timestamp);
create table alert_history(rule varchar, alert_id varchar, cluster varchar, subject varchar, task_slug varchar,
    event varchar, alert_level varchar, event_at timestamp);
create table signatures(cluster varchar, task_name varchar, task_slug varchar, exception_type varchar,
    failures bigint, first_seen_at timestamp, last_seen_at timestamp, sample_message varchar);
create table signature_daily(day date, cluster varchar, task_name varchar, exception_type varchar, failures bigint);
create table recent_failures(cluster varchar, task_name varchar, task_id varchar, failed_at timestamp,
    outcome varchar, exception_type varchar, exception_message varchar, worker varchar);
create table task_tables(cluster varchar, task_name varchar, task_slug varchar, table_name varchar,
    table_slug varchar, depth bigint, written_table varchar);
create table tables(table_name varchar, table_slug varchar, upstream_tables bigint, downstream_tables bigint,
    writer_tasks bigint, failing_tasks bigint, at_risk boolean);
create table table_edges(source_table varchar, source_slug varchar, target_table varchar, target_slug varchar);
create table table_downstream(table_name varchar, downstream_table varchar, downstream_slug varchar, depth bigint);
create table queue_backlog(hour timestamp, cluster varchar, queue_name varchar, avg_messages double,
    max_messages bigint, last_messages bigint);
create table workers(cluster varchar, worker varchar, is_online boolean, last_heartbeat_at timestamp,
    online_ratio double, processed_total bigint, alert_level varchar);
create table taskline_health(check_name varchar, cluster varchar, passed boolean, severity varchar,
    description varchar, evaluated_at timestamp);
create table captures(cluster varchar, last_capture_at timestamp);
"""

TASKS = [
    ("billing.tasks.charge_invoices", ["prod"], 0.02, 4.0),
    ("billing.tasks.sync_ledger", ["prod"], 0.25, 30.0),
    ("etl.load/orders?full=1#v2", ["prod", "staging"], 0.10, 12.0),
    ("reports.build 'daily' \"summary\"", ["prod"], 0.0, 60.0),
    ("münchen.äöü.Übersicht — 日本語", ["staging"], 0.05, 2.0),
    ("emails.send_welcome", ["prod", "staging"], 0.01, 0.5),
    ("x" * 250 + ".very_long_task_name_" + "y" * 29, ["prod"], 0.3, 8.0),
]
TABLES = ["raw.orders", "staging.stg_orders", "marts.fct_orders", "marts.fct_revenue", "raw.ledger",
          "marts.dim_customers", "reports.daily_summary"]
EDGES = [("raw.orders", "staging.stg_orders"), ("staging.stg_orders", "marts.fct_orders"),
         ("marts.fct_orders", "marts.fct_revenue"), ("raw.ledger", "marts.fct_revenue"),
         ("marts.fct_revenue", "reports.daily_summary"), ("marts.dim_customers", "reports.daily_summary")]
WRITES = {TASKS[2][0]: "raw.orders", TASKS[1][0]: "raw.ledger", TASKS[3][0]: "reports.daily_summary",
          TASKS[5][0]: "marts.dim_customers", TASKS[6][0]: "marts.fct_orders"}
EXC = ["TimeoutError", "ConnectionResetError", "KeyError", "psycopg2.OperationalError"]


def downstream(table):
    out, frontier, depth = {}, [table], 0
    while frontier:
        depth += 1
        nxt = []
        for t in frontier:
            for s, d in EDGES:
                if s == t and d not in out:
                    out[d] = depth
                    nxt.append(d)
        frontier = nxt
    return out


def main(out: str, empty: bool) -> None:
    rnd = random.Random(7)
    now = datetime(2026, 12, 5, 12, 0, 0)
    if os.path.exists(out):
        os.remove(out)
    con = duckdb.connect()
    opts = f" (storage_version '{STORAGE_VERSION}')" if STORAGE_VERSION != "default" else ""
    con.execute(f"attach '{out}' as ex{opts}")
    con.execute("use ex")
    con.execute(SCHEMA)
    con.execute("insert into export_info values (?, 'duckdb', ?)", [now, not empty])
    if empty:
        con.execute("use memory")
        con.execute("detach ex")
        return
    hourly, daily, sigd, sigs, recent, tasks = [], [], [], [], [], []
    for name, clusters, rate, runtime in TASKS:
        for cluster in clusters:
            for h in range(7 * 24):
                hour = now.replace(minute=0) - timedelta(hours=h)
                r = rnd.randint(0, 12)
                spike = 4 if (name.startswith("billing.tasks.sync") and h < 6) else 1
                f = sum(1 for _ in range(r) if rnd.random() < min(rate * spike, 0.95))
                hourly.append((hour, cluster, name, r, f))
            for d in range(30):
                day = (now - timedelta(days=d)).date()
                r = rnd.randint(50, 300)
                f = sum(1 for _ in range(r) if rnd.random() < rate * (1 + (d < 2)))
                p50 = runtime * rnd.uniform(0.8, 1.2)
                daily.append((day, cluster, name, r, f, f / r, p50, p50 * rnd.uniform(1.5, 4)))
                for e in EXC[: 1 + (f > 5) + (d < 3)]:
                    if f:
                        sigd.append((day, cluster, name, e, max(1, f // 2)))
            if rate:
                for i, e in enumerate(EXC[:3]):
                    first = now - timedelta(days=[25, 10, 2][i])
                    sigs.append((cluster, name, slug(name), e, rnd.randint(1, 80), first,
                                 now - timedelta(hours=i * 3), f"{e}: something went wrong ({i})"))
                for i in range(8):
                    recent.append((cluster, name, f"id-{rnd.getrandbits(64):016x}",
                                   now - timedelta(hours=i * 5 + rnd.random()), "FAILURE" if i % 3 else "RETRY",
                                   EXC[i % 3], f"{EXC[i % 3]}: connection to db-{i} lost after 30s",
                                   f"celery@{cluster}-worker-{i % 2}"))
        r7 = sum(x[3] for x in hourly if x[2] == name)
        f7 = sum(x[4] for x in hourly if x[2] == name)
        r30 = sum(x[3] for x in daily if x[2] == name)
        f30 = sum(x[4] for x in daily if x[2] == name)
        level = "error" if name.startswith("billing.tasks.sync") else ("warn" if rate >= 0.3 else None)
        tasks.append((name, slug(name), ",".join(clusters), r7, f7, f7 / r7 if r7 else 0.0, r30, f30,
                      f30 / r30 if r30 else 0.0, now - timedelta(minutes=5),
                      now - timedelta(hours=1) if f7 else None, level))
    con.executemany("insert into runs_hourly values (?,?,?,?,?)", hourly)
    con.executemany("insert into runs_daily values (?,?,?,?,?,?,?,?)", daily)
    con.executemany("insert into signature_daily values (?,?,?,?,?)", sigd)
    con.executemany("insert into signatures values (?,?,?,?,?,?,?,?)", sigs)
    con.executemany("insert into recent_failures values (?,?,?,?,?,?,?,?)", recent)
    con.executemany("insert into tasks values (?,?,?,?,?,?,?,?,?,?,?,?)", tasks)

    sync, longname = TASKS[1][0], TASKS[6][0]
    alerts = [
        ("failure_spike", "prod", sync, slug(sync), "error", "team-billing",
         f"{sync} on prod failed 31 of 52 runs in the last hour (60%), against 25% usually.", now - timedelta(hours=5)),
        ("failure_spike", "prod", longname, slug(longname), "warn", None,
         f"{longname[:40]}… on prod failed 4 of 11 runs in the last hour (36%), against 30% usually.",
         now - timedelta(hours=2)),
        ("worker_offline", "staging", "celery@staging-worker-1", None, "warn", None,
         "Worker celery@staging-worker-1 on staging has sent no heartbeat for 14 minutes.", now - timedelta(minutes=14)),
        ("queue_backlog", "prod", "billing", None, "warn", "team-billing",
         "Queue billing on prod holds 1,240 messages, growing for 30 minutes.", now - timedelta(minutes=30)),
    ]
    con.executemany("insert into open_alerts values (?,?,?,?,?,?,?,?)", alerts)
    hist = []
    for a in alerts:
        hist.append((a[0], f"a-{abs(hash(a[2])) % 10**6}", a[1], a[2], a[3], "opened", a[4], a[7]))
    for d in (3, 9, 20):
        hist.append(("failure_spike", f"old-{d}", "prod", sync, slug(sync), "opened", "warn", now - timedelta(days=d)))
        hist.append(("failure_spike", f"old-{d}", "prod", sync, slug(sync), "resolved", "warn",
                     now - timedelta(days=d) + timedelta(hours=2)))
    con.executemany("insert into alert_history values (?,?,?,?,?,?,?,?)", hist)

    tt = []
    for name, clusters, *_ in TASKS:
        if name in WRITES:
            w = WRITES[name]
            for cluster in clusters:
                tt.append((cluster, name, slug(name), w, slug(w), 0, w))
                for t, d in downstream(w).items():
                    tt.append((cluster, name, slug(name), t, slug(t), d, w))
    con.executemany("insert into task_tables values (?,?,?,?,?,?,?)", tt)
    failing = {t[0] for t in tasks if t[4] > 0}
    trows = []
    for t in TABLES:
        up = sum(1 for o in TABLES if t in downstream(o))
        writers = {x[1] for x in tt if x[3] == t}
        fails = {x[1] for x in tt if x[3] == t and x[1] in failing}
        trows.append((t, slug(t), up, len(downstream(t)), len({x[1] for x in tt if x[3] == t and x[5] == 0}),
                      len(fails), bool(fails)))
        del writers
    con.executemany("insert into tables values (?,?,?,?,?,?,?)", trows)
    con.executemany("insert into table_edges values (?,?,?,?)", [(s, slug(s), d, slug(d)) for s, d in EDGES])
    con.executemany("insert into table_downstream values (?,?,?,?)",
                    [(t, d, slug(d), n) for t in TABLES for d, n in downstream(t).items()])
    qb = []
    for cluster, queue in [("prod", "billing"), ("prod", "default"), ("staging", "default")]:
        for h in range(7 * 24):
            hour = now.replace(minute=0) - timedelta(hours=h)
            base = 1200 if (queue == "billing" and h < 2) else rnd.randint(0, 40)
            qb.append((hour, cluster, queue, base * 0.8, base, base))
    con.executemany("insert into queue_backlog values (?,?,?,?,?,?)", qb)
    con.executemany("insert into workers values (?,?,?,?,?,?,?)", [
        ("prod", "celery@prod-worker-0", True, now - timedelta(seconds=20), 0.999, 182734, None),
        ("prod", "celery@prod-worker-1", True, now - timedelta(seconds=12), 0.97, 170233, None),
        ("staging", "celery@staging-worker-0", True, now - timedelta(seconds=40), 1.0, 9123, None),
        ("staging", "celery@staging-worker-1", False, now - timedelta(minutes=14), 0.81, 8012, "warn"),
    ])
    con.executemany("insert into taskline_health values (?,?,?,?,?,?)", [
        ("capture_freshness", "prod", True, None, "Flower was captured in the last 10 minutes.", now),
        ("capture_freshness", "staging", True, None, "Flower was captured in the last 10 minutes.", now),
        ("capture_completeness", "prod", True, None, "No gap in task events between captures.", now),
        ("lineage_coverage", None, False, "warn", "2 of 7 tasks have no table in task_table_map.", now),
    ])
    con.executemany("insert into captures values (?,?)", [("prod", now - timedelta(minutes=3)),
                                                          ("staging", now - timedelta(minutes=4))])
    con.execute("use memory")
    con.execute("detach ex")


if __name__ == "__main__":
    main(sys.argv[1], "--empty" in sys.argv[2:])
