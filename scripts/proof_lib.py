"""Shared by scripts/faults and scripts/scale-out: start guichet processes, drive them with
many signed-in customers (reads, orders, payments) from threads, and check the billing
invariants in the database itself (the same ones as the crash harness). Python standard
library only; PostgreSQL is read through `psql`."""

import http.client
import json
import os
import random
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.parse


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Proc:
    """A guichet process; `serve` ones print their address on the first line of stdout."""

    def __init__(self, binary, args, env, log_path, wait_listening=True):
        self.log_path = log_path
        self.log = open(log_path, "ab")
        full_env = dict(os.environ)
        for k in ("GUICHET_SMTP_URL", "GUICHET_CONFIG", "GUICHET_PUBLIC_URL"):
            full_env.pop(k, None)
        full_env.update(env)
        self.p = subprocess.Popen(
            [binary] + args, env=full_env, stdout=subprocess.PIPE, stderr=self.log
        )
        self.base = None
        if wait_listening:
            line = self.p.stdout.readline().decode().strip()
            if not line.startswith("listening on "):
                raise RuntimeError(f"{args} did not start: {line!r}; see {log_path}")
            self.base = line[len("listening on "):]
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for _ in self.p.stdout:
            pass

    def rss_mb(self):
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()

    def panicked(self):
        with open(self.log_path, "rb") as f:
            return b"panicked" in f.read()


def call(base, method, path, token=None, body=None, timeout=15):
    """One request; (status, decoded JSON or text). Status 0 when the connection failed."""
    u = urllib.parse.urlparse(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    headers = {}
    data = None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        raw = r.read()
        try:
            v = json.loads(raw) if raw else None
        except ValueError:
            v = raw.decode(errors="replace")
        return r.status, v
    except (OSError, http.client.HTTPException) as e:
        return 0, str(e)
    finally:
        c.close()


class Driver:
    """Threads acting as customers until stopped: each round reads the invoices and the
    services, orders the seeded monthly plan and pays it with the card on file. Every answer
    is recorded with its time, operation and status."""

    def __init__(self, bases, tokens, threads=8, plan="bench-monthly"):
        self.bases = bases
        self.tokens = tokens
        self.threads = threads
        self.plan = plan
        self.results = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.workers = []

    def _note(self, op, status, body):
        with self.lock:
            self.results.append((time.monotonic(), op, status, body))

    def _run(self, n):
        rnd = random.Random(n)
        while not self.stopping.is_set():
            base = self.bases[rnd.randrange(len(self.bases))]
            token = self.tokens[rnd.randrange(len(self.tokens))]
            st, v = call(base, "GET", "/api/v1/me/invoices", token)
            self._note("read", st, v)
            st, v = call(base, "POST", "/api/v1/me/orders", token,
                         {"lines": [{"plan": self.plan}]})
            self._note("order", st, v)
            if st == 201 and isinstance(v, dict):
                st, v = call(base, "POST", f"/api/v1/me/orders/{v['id']}/pay", token, {})
                self._note("pay", st, v)
            if st in (0, 503):
                time.sleep(0.05)

    def start(self):
        for n in range(self.threads):
            t = threading.Thread(target=self._run, args=(n,), daemon=True)
            t.start()
            self.workers.append(t)

    def stop(self):
        self.stopping.set()
        for t in self.workers:
            t.join(60)

    def statuses(self, since=None, until=None):
        out = {}
        for (t, op, st, _) in self.results:
            if (since is None or t >= since) and (until is None or t < until):
                out[st] = out.get(st, 0) + 1
        return out

    def server_errors(self):
        """Answers that are neither a success, a clean 4xx nor a 503 with a JSON error."""
        bad = []
        for (t, op, st, v) in self.results:
            if st >= 500 and not (st == 503 and isinstance(v, dict) and "code" in v):
                bad.append((op, st, v))
        return bad


def psql(url, sql):
    out = subprocess.run(["psql", "-qtAX", url, "-c", sql], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"psql: {out.stderr.strip()}")
    return out.stdout.strip()


def scalar(url, sql):
    if url.startswith("sqlite://"):
        path = url[len("sqlite://"):].split("?")[0]
        c = sqlite3.connect(path, timeout=30)
        try:
            return c.execute(sql).fetchone()[0]
        finally:
            c.close()
    return int(psql(url, sql) or 0)


# The billing invariants: each a query that counts violations. Orders numbered B… are the
# seeded ones (`guichet bench seed-renewals`), delivered without an invoice of their own.
INVARIANTS = [
    ("paid or delivered orders without exactly one invoice",
     "SELECT COUNT(*) FROM orders o WHERE o.status IN ('paid', 'delivered') AND "
     "o.number NOT LIKE 'B%' AND (SELECT COUNT(*) FROM invoices i WHERE i.order_id = o.id AND i.kind = 'invoice') <> 1"),
    ("invoices of orders neither paid nor delivered",
     "SELECT COUNT(*) FROM invoices i JOIN orders o ON o.id = i.order_id "
     "WHERE i.kind = 'invoice' AND o.status NOT IN ('paid', 'delivered', 'cancelled')"),
    ("orders with more than one succeeded payment",
     "SELECT COUNT(*) FROM (SELECT order_id FROM payments WHERE state = 'succeeded' "
     "GROUP BY order_id HAVING COUNT(*) > 1) x"),
    ("succeeded payments whose order is not paid",
     "SELECT COUNT(*) FROM payments p JOIN orders o ON o.id = p.order_id "
     "WHERE p.state = 'succeeded' AND o.status NOT IN ('paid', 'delivered', 'cancelled')"),
    ("gateway charges beyond the succeeded payments and those still being settled",
     "SELECT CASE WHEN c > p THEN c - p ELSE 0 END FROM "
     "(SELECT (SELECT COUNT(*) FROM sandbox_charges WHERE outcome = 'succeeded') AS c, "
     "(SELECT COUNT(*) FROM payments WHERE state IN ('succeeded', 'pending', 'unknown')) AS p) x"),
    ("succeeded payments without a gateway charge",
     "SELECT CASE WHEN p > c THEN p - c ELSE 0 END FROM "
     "(SELECT (SELECT COUNT(*) FROM sandbox_charges WHERE outcome = 'succeeded') AS c, "
     "(SELECT COUNT(*) FROM payments WHERE state = 'succeeded') AS p) x"),
    ("gaps or duplicates in invoice numbers",
     "SELECT COUNT(*) FROM (SELECT series, year FROM invoices GROUP BY series, year "
     "HAVING COUNT(*) <> MAX(seq) OR MIN(seq) <> 1 OR COUNT(DISTINCT seq) <> COUNT(*)) x"),
    ("delivered orders without their services",
     "SELECT COUNT(*) FROM orders o WHERE o.status = 'delivered' AND o.kind = 'new' AND "
     "o.number NOT LIKE 'B%' AND NOT EXISTS (SELECT 1 FROM services s WHERE s.order_id = o.id)"),
    ("jobs given up", "SELECT COUNT(*) FROM jobs WHERE state = 'failed'"),
]

# Payments whose outcome is still being settled by the reconciler.
UNSETTLED = "SELECT COUNT(*) FROM payments WHERE state IN ('pending', 'unknown')"


def check_invariants(url, settle_secs=90):
    """Wait for unsettled payments to settle, then return the violated invariants."""
    deadline = time.monotonic() + settle_secs
    while scalar(url, UNSETTLED) > 0 and time.monotonic() < deadline:
        time.sleep(1)
    failures = []
    left = scalar(url, UNSETTLED)
    if left:
        # A charge the gateway never recorded stays unknown for 15 minutes before it fails.
        print(f"  ({left} payments still being settled after {settle_secs} s: allowed)")
    for what, sql in INVARIANTS:
        n = scalar(url, sql)
        if n:
            failures.append(f"{what}: {n}")
    return failures


def seed(binary, env, services, per_account, tokens_path):
    """Customers with a default card and monthly services, and a session for each."""
    full = dict(os.environ)
    full.update(env)
    for args in (
        ["bench", "seed-renewals", "--services", str(services), "--per-account", str(per_account)],
        ["bench", "seed-sessions", "--customers", str(services // per_account), "--out", tokens_path],
    ):
        subprocess.run([binary] + args, env=full, check=True, stdout=subprocess.DEVNULL)
    with open(tokens_path) as f:
        return [line.strip() for line in f if line.strip()]
