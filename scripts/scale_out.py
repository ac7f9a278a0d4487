#!/usr/bin/env python3
"""Scale-out (called by scripts/scale-out): two `guichet serve --no-worker` nodes and two
`guichet worker` processes on one PostgreSQL database (a fresh one on the shared server).
Seeded customers with monthly services due for renewal today; a mixed load (reads, orders,
payments) spread over both nodes while the two workers run the renewals; then `guichet
billing run` to the end. Afterwards the crash harness's invariants, read from the database:
every seeded service renewed once, one renewal order, one charge and one invoice each,
invoice numbers gapless, each renewal mail once, and the billing invariants of every order
placed under load. Ends with `N passed, N failed`.

    scale_out.py BINARY
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proof_lib as pl  # noqa: E402

ADMIN = os.environ.get("GUICHET_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
SERVICES = int(os.environ.get("SCALE_SERVICES", "4000"))
PER = 4
SECONDS = int(os.environ.get("SCALE_SECONDS", "20"))


def main():
    binary = sys.argv[1]
    root = tempfile.mkdtemp(prefix="guichet-scale-")
    name = f"guichet_scale_{os.getpid()}"
    pl.psql(ADMIN, f"CREATE DATABASE {name}")
    url = ADMIN.rsplit("/", 1)[0] + "/" + name
    procs = []
    failures = []
    try:
        env = {
            "GUICHET_DATABASE_URL": url,
            "GUICHET_DATA_DIR": os.path.join(root, "data"),
            "GUICHET_SANDBOX": "1",
            "GUICHET_LISTEN": "127.0.0.1:0",
            "GUICHET_DATABASE_MAX_CONNECTIONS": "8",
            "RUST_LOG": "warn",
        }
        tokens = pl.seed(binary, env, SERVICES, PER, os.path.join(root, "tokens"))
        nodes = [pl.Proc(binary, ["serve", "--no-worker"], env, os.path.join(root, f"node{i}.log"))
                 for i in range(2)]
        procs += nodes
        d = pl.Driver([n.base for n in nodes], tokens, threads=8)
        t0 = time.monotonic()
        d.start()
        time.sleep(2)
        workers = [pl.Proc(binary, ["worker"], env, os.path.join(root, f"worker{i}.log"),
                           wait_listening=False) for i in range(2)]
        procs += workers
        time.sleep(SECONDS)
        d.stop()
        elapsed = time.monotonic() - t0
        stats = d.statuses()
        done = sum(n for s, n in stats.items() if 200 <= s < 300)
        print(f"scale-out: {len(d.results)} requests over 2 nodes in {elapsed:.0f} s "
              f"({done / elapsed:.0f} successful/s): {stats}")
        print("scale-out: RSS " + ", ".join(f"{p.rss_mb():.1f} MiB" for p in procs))
        for w in workers:
            w.stop()
        procs = [p for p in procs if p not in workers]
        # The billing run to the end, two days on: leases lapse, payments settle.
        today = time.strftime("%Y-%m-%d", time.gmtime())
        until = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 2 * 86400))
        full = dict(os.environ)
        full.update(env)
        for k in ("GUICHET_SMTP_URL", "GUICHET_CONFIG"):
            full.pop(k, None)
        runs = [subprocess.Popen([binary, "billing", "run", "--until", until], env=full,
                                 stdout=subprocess.DEVNULL) for _ in range(2)]
        for r in runs:
            if r.wait() != 0:
                failures.append("a billing run failed")
        print(f"scale-out: billing runs from {today} to {until} done")

        failures += [f"{op} answered {st}: {v}" for (op, st, v) in d.server_errors()[:5]]
        if done == 0:
            failures.append("no request succeeded")
        q = lambda sql: pl.scalar(url, sql)  # noqa: E731
        n = SERVICES
        renewed = {
            "seeded services": q("SELECT COUNT(*) FROM services WHERE plan_code = 'bench-monthly' "
                                 "AND order_id IN (SELECT id FROM orders WHERE number LIKE 'B%')"),
            "renewal orders": q("SELECT COUNT(*) FROM orders WHERE kind = 'renewal'"),
            "delivered renewal orders": q("SELECT COUNT(*) FROM orders WHERE kind = 'renewal' "
                                          "AND status = 'delivered'"),
            "service_renewed mails": q("SELECT COUNT(*) FROM emails WHERE kind = 'service_renewed'"),
            "renewed expirations": q("SELECT COUNT(DISTINCT s.expires_on) FROM services s JOIN "
                                     "orders o ON o.id = s.order_id WHERE o.number LIKE 'B%'"),
        }
        print(f"scale-out: {renewed}")
        for what, want in [("seeded services", n), ("renewal orders", n),
                           ("delivered renewal orders", n), ("service_renewed mails", n),
                           ("renewed expirations", 1)]:
            if renewed[what] != want:
                failures.append(f"{what}: {renewed[what]}, expected {want}")
        dup = q("SELECT COUNT(*) FROM (SELECT service_id FROM order_lines WHERE order_id IN "
                "(SELECT id FROM orders WHERE kind = 'renewal') GROUP BY service_id "
                "HAVING COUNT(*) > 1) x")
        if dup:
            failures.append(f"{dup} services renewed more than once")
        failures += pl.check_invariants(url, settle_secs=30)
        for p in procs + workers:
            if p.panicked():
                failures.append(f"a process panicked: {p.log_path}")
    finally:
        for p in procs:
            p.stop()
        pl.psql(ADMIN, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        shutil.rmtree(root, ignore_errors=True)
    for f in failures:
        print(f"FAIL scale-out: {f}")
    print(f"scale-out: {0 if failures else 1} passed, {1 if failures else 0} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
