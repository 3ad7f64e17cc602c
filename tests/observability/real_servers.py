#!/usr/bin/env python3
"""End-to-end check of alerts/ and dashboards/ against real servers, all on loopback.

Starts, each in its own temporary directory:
  * perfd in the embedded default (tiny preset, short interval) with an SLO it cannot meet
    (decode >= 1e9 tokens/s), so bitnet_slo_ok{slo="decode_tokens_per_second"} becomes 0;
  * perfd tracking a throw-away git repository (two commits, harness = `perfd bench` tiny, dry-run
    gates), so regression ratio, gate status and outbox families have data too;
  * Prometheus scraping both under job "perfd" every second, with alerts/perfd.rules.yml loaded
    and alerting to
  * Alertmanager running alerts/alertmanager.example.yml, rewritten to this test's ports, with
    both receivers pointed at a recording HTTP receiver this script runs.

Checks: the planted SLO breach fires PerfdSLOBreached in Prometheus, reaches Alertmanager and the
default receiver; an alert labelled perfd_action="tune" is routed to perfd's own webhook with the
bearer token from the credentials file, and perfd runs a tuning job for it; every PromQL expression of every dashboard panel (and every
variable and annotation query) parses, and returns data unless the panel's description says
"May be empty:" (see dashboards/README.md). Every server started is stopped on exit, also on
failure or Ctrl-C.

Usage: python3 tests/observability/real_servers.py --perfd target/release/perfd
Needs: prometheus, prometheus-alertmanager (Debian packages; amtool/promtool used when present),
git. Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "alerts" / "perfd.rules.yml"
AM_EXAMPLE = ROOT / "alerts" / "alertmanager.example.yml"
DASHBOARDS = ROOT / "dashboards"
MAY_BE_EMPTY = "May be empty:"
POLL_S = 0.5
# The test machine may be a busy 2-core box: deadlines are generous, polling is frequent.
START_DEADLINE_S = 120
STATE_DEADLINE_S = 240

# Grafana's built-in variables, as the query checks substitute them.
BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}


class Results:
    """Counts checks; prints one line per check."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def ok(self, name: str) -> None:
        self.passed += 1
        print(f"ok    {name}", flush=True)

    def fail(self, name: str, why: str) -> None:
        self.failed += 1
        print(f"FAIL  {name}: {why}", flush=True)

    def check(self, cond: bool, name: str, why: str = "") -> bool:
        if cond:
            self.ok(name)
        else:
            self.fail(name, why or "condition false")
        return cond


def log(msg: str) -> None:
    print(f"..    {msg}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(method: str, url: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 10.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e).encode()


def wait_for(what: str, deadline_s: float, probe, servers: "Servers"):
    """Polls `probe` (returns a truthy value when done) until the deadline; fails early when a
    server died."""
    end = time.monotonic() + deadline_s
    while True:
        servers.assert_alive()
        got = probe()
        if got:
            return got
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {deadline_s:.0f} s waiting for {what}")
        time.sleep(POLL_S)


class Servers:
    """Processes this script started; `stop_all` ends each by its own pid."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self, name: str, argv: list[str], env: dict | None = None, cwd: Path | None = None):
        logf = self.tmp / f"{name}.log"
        out = open(logf, "wb")
        log(f"start {name}: {' '.join(argv)}")
        # Own session: a Ctrl-C in the terminal reaches only this script, whose finally stops them.
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=env, cwd=cwd, start_new_session=True)
        out.close()
        self.procs.append((name, p, logf))
        return p

    def assert_alive(self) -> None:
        for name, p, logf in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited with {p.returncode}; log tail:\n{tail(logf)}")

    def stop_all(self) -> None:
        for name, p, _ in reversed(self.procs):
            if p.poll() is None:
                try:
                    # The whole process group: perfd's harness children included.
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for name, p, _ in reversed(self.procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log(f"{name} ignored SIGTERM for 30 s: SIGKILL")
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=10)
        self.procs.clear()

    def log_tail(self, name: str, n: int = 25) -> str:
        return tail(self.tmp / f"{name}.log", n)

    def tails(self) -> str:
        return "\n".join(f"--- {name} ({logf})\n{tail(logf)}" for name, _, logf in self.procs)


def tail(path: Path, n: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


class Receiver:
    """Records what Alertmanager's webhooks post: (path, Authorization header, JSON body)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.posts: list[tuple[str, str, dict]] = []
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"unparsed": raw.decode(errors="replace")}
                with rec.lock:
                    rec.posts.append((self.path, self.headers.get("Authorization", ""), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def alerts_at(self, path: str) -> list[tuple[str, dict]]:
        """(Authorization, alert) of every alert posted to `path`."""
        with self.lock:
            return [(auth, a) for p, auth, body in self.posts if p == path
                    for a in body.get("alerts", [])]


# ----------------------------------------------------------------------------- configuration

def perfd_embedded_config(state: Path, port: int, token_file: Path) -> str:
    return f"""# Embedded default, tiny model, short interval; an SLO no machine meets plants a breach.
[daemon]
state_dir = "{state}"
listen = "127.0.0.1:{port}"

[schedule]
interval_secs = 10

[benchmark]
# The CPU backend by name: decode at a cache depth (below) is CPU-only, and its queries must
# return data on a GPU host too.
backend = "cpu"
preset = "tiny"
prompt_tokens = 8
gen_tokens = 128
reps = 3
# Decode after a filled cache too, so its panels have data (64 + 128 fits tiny's 256).
context_positions = [64]

[noise]
# The test host is shared (builds, the other daemon): do not retry noisy runs.
limit_cores = 1000.0
max_retries = 0

[slo]
decode_tokens_per_second_min = 1e9
# Met on any host: these objectives are judged and exported beside the planted breach.
context_decode_tokens_per_second_min = {{ 64 = 0.001 }}
decode_same_window_roofline_ratio_min = 0.001

[tuner]
# Only the alert below starts a job (the planted breach would start one on every run), and a
# small one: this test is about the route, the token and the webhook, not the search.
on = []
budget_secs = 20
max_evals = 4
adoption_pairs = 3
crossval_steps = 4
webhook_token_file = "{token_file}"
"""


def perfd_repository_config(state: Path, port: int, repo: Path) -> str:
    return f"""# Tracks a local repository whose harness is perfd's own tiny benchmark; gates are dry runs.
[daemon]
state_dir = "{state}"
listen = "127.0.0.1:{port}"

[schedule]
interval_secs = 1
rebench_interval_secs = 0

[repository]
url = "{repo}"
branch = "main"
build_command = "true"
harness_command = "sh bench.sh"
harness_timeout_secs = 300

[noise]
limit_cores = 1000.0
max_retries = 0

[regression]
# Only a halving is suspect: no A/B re-runs in this test (they would only cost time).
suspicion_effect = 0.5
"""


def git(repo: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="perfd test", GIT_AUTHOR_EMAIL="perfd@localhost",
               GIT_COMMITTER_NAME="perfd test", GIT_COMMITTER_EMAIL="perfd@localhost")
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def fixture_repo(tmp: Path, perfd: Path) -> Path:
    repo = tmp / "upstream"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "bench.sh").write_text(
        f'exec "{perfd}" bench --json --preset tiny --pp 8 --tg 128 --reps 3\n')
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


def prometheus_config(perfd_targets: list[str], am_port: int) -> str:
    targets = ", ".join(f'"{t}"' for t in perfd_targets)
    return f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - "{RULES}"
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{am_port}"]
scrape_configs:
  - job_name: perfd
    static_configs:
      - targets: [{targets}]
"""


def alertmanager_config(rx_port: int, perfd_port: int, token_file: Path) -> str:
    """alerts/alertmanager.example.yml with this test's receiver, perfd's real webhook, the token
    file and short waits."""
    text = AM_EXAMPLE.read_text()
    subs = [
        ("http://127.0.0.1:9464/api/v1/alerts", f"http://127.0.0.1:{perfd_port}/api/v1/alerts"),
        ("http://127.0.0.1:5001/alerts", f"http://127.0.0.1:{rx_port}/default"),
        ("/etc/perfd/webhook-token", str(token_file)),
    ]
    for old, new in subs:
        if old not in text:
            raise ValueError(f"{AM_EXAMPLE} no longer contains {old!r}: update this test")
        text = text.replace(old, new)
    # Notify within seconds rather than the production grouping waits.
    text, n = re.subn(r"group_wait: \S+", "group_wait: 1s", text)
    if n == 0:
        raise ValueError(f"{AM_EXAMPLE} has no group_wait to shorten: update this test")
    return text


# ----------------------------------------------------------------------------- dashboards

def load_dashboards() -> list[tuple[str, dict]]:
    return [(p.name, json.loads(p.read_text())) for p in sorted(DASHBOARDS.glob("*.json"))]


def all_panels(d: dict):
    for p in d.get("panels", []):
        yield p
        yield from p.get("panels", [])  # collapsed rows keep their panels inside


def variable_names(d: dict) -> set[str]:
    return {v["name"] for v in d.get("templating", {}).get("list", [])
            if v.get("type") in ("query", "custom", "constant", "textbox", "interval")}


def substitute(expr: str, names: set[str]) -> str:
    """Replaces Grafana variables: dashboard variables by `.*` (used with =~), built-ins by
    fixed durations. Raises on an unknown variable."""
    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        name = name.split(":")[0]  # ${var:format}
        if name in BUILTINS:
            return BUILTINS[name]
        if name in names:
            return ".*"
        raise KeyError(name)
    return re.sub(r"\$\{([A-Za-z0-9_:]+)\}|\[\[([A-Za-z0-9_]+)\]\]|\$([A-Za-z0-9_]+)", repl, expr)


def static_dashboard_checks(res: Results, dashboards: list[tuple[str, dict]]) -> None:
    """What can be checked without servers: datasource variable, no hard-coded UIDs."""
    res.check(len(dashboards) >= 3, "dashboards: at least overview, kernels and daemon",
              f"found {[n for n, _ in dashboards]}")
    for name, d in dashboards:
        variables = d.get("templating", {}).get("list", [])
        dsv = [v for v in variables if v.get("type") == "datasource"]
        res.check(len(dsv) == 1 and dsv[0].get("name") == "datasource"
                  and dsv[0].get("query") == "prometheus",
                  f"{name}: one datasource variable `datasource` of type prometheus", json.dumps(dsv))
        bad = []
        for where, ds in datasource_refs(d):
            if ds != {"type": "prometheus", "uid": "${datasource}"} and where != "annotation:builtin":
                bad.append(f"{where}: {ds}")
        res.check(not bad, f"{name}: every datasource reference is ${{datasource}}", "; ".join(bad))
        missing = [p.get("title") for p in all_panels(d)
                   if p.get("type") != "row" and not any(t.get("expr") for t in p.get("targets", []))]
        res.check(not missing, f"{name}: every panel has a PromQL target", f"without: {missing}")


def datasource_refs(d: dict):
    for a in d.get("annotations", {}).get("list", []):
        yield ("annotation:builtin" if a.get("builtIn") else f"annotation {a.get('name')}"), a.get("datasource")
    for v in d.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            yield f"variable {v['name']}", v.get("datasource")
    for p in all_panels(d):
        if p.get("type") == "row":
            continue
        yield f"panel {p.get('title')!r}", p.get("datasource")
        for t in p.get("targets", []):
            yield f"panel {p.get('title')!r} target {t.get('refId')}", t.get("datasource")


def query_items(dashboards: list[tuple[str, dict]]):
    """(label, raw expression, may be empty) for every query of every dashboard."""
    for name, d in dashboards:
        names = variable_names(d)
        for v in d.get("templating", {}).get("list", []):
            if v.get("type") != "query":
                continue
            q = v.get("query")
            q = q.get("query", "") if isinstance(q, dict) else (q or "")
            m = re.fullmatch(r"\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", q, re.S)
            if m:
                # The values of a variable must exist: query the series behind label_values().
                yield name, names, f"variable ${v['name']}", f"count by ({m.group(2)}) ({m.group(1)})", False
            else:
                yield name, names, f"variable ${v['name']}", q, False
        for a in d.get("annotations", {}).get("list", []):
            if a.get("expr"):
                # Annotations mark events (a confirmed regression): none is the normal case.
                yield name, names, f"annotation {a.get('name')!r}", a["expr"], True
        for p in all_panels(d):
            if p.get("type") == "row":
                continue
            empty_ok = MAY_BE_EMPTY in (p.get("description") or "")
            for t in p.get("targets", []):
                if t.get("expr"):
                    yield name, names, f"panel {p.get('title')!r} {t.get('refId')}", t["expr"], empty_ok


def prom_query(prom: str, expr: str) -> tuple[str, object]:
    """('ok', result list) | ('error', message)."""
    status, body = fetch("POST", f"{prom}/api/v1/query",
                        urllib.parse.urlencode({"query": expr}).encode(),
                        {"Content-Type": "application/x-www-form-urlencoded"})
    try:
        j = json.loads(body)
    except ValueError:
        return "error", f"HTTP {status}: {body[:200]!r}"
    if j.get("status") != "success":
        return "error", f"{j.get('errorType')}: {j.get('error')}"
    data = j["data"]
    if data["resultType"] in ("scalar", "string"):
        return "ok", [data["result"]]
    return "ok", data["result"]


def dashboard_query_checks(res: Results, prom: str, dashboards, servers: Servers) -> list[str]:
    """Every query once; empty ones retried until a deadline (rates need a few scrapes)."""
    pending = []
    for dash, names, label, raw, empty_ok in query_items(dashboards):
        name = f"{dash}: {label}"
        try:
            expr = substitute(raw, names)
        except KeyError as e:
            res.fail(name, f"unknown variable ${e.args[0]} in {raw}")
            continue
        pending.append((name, expr, empty_ok))
    empty_allowed = []
    end = time.monotonic() + 90
    while pending:
        servers.assert_alive()
        still = []
        for name, expr, empty_ok in pending:
            kind, got = prom_query(prom, expr)
            if kind == "error":
                res.fail(name, f"{got}\n      expr: {expr}")
            elif got:
                res.ok(f"{name} ({len(got)} series)")
            elif empty_ok:
                empty_allowed.append(name)
            else:
                still.append((name, expr, empty_ok))
        pending = still
        if pending and time.monotonic() > end:
            for name, expr, _ in pending:
                res.fail(name, f"empty result, and the panel is not marked '{MAY_BE_EMPTY}'\n      expr: {expr}")
            break
        if pending:
            time.sleep(POLL_S)
    for name in empty_allowed:
        res.ok(f"{name} (empty; allowed)")
    return empty_allowed


# ----------------------------------------------------------------------------- main

def run(args, res: Results, tmp: Path, servers: Servers, receiver: Receiver) -> None:
    perfd_src = Path(args.perfd).resolve()
    if not perfd_src.is_file():
        raise FileNotFoundError(f"no perfd binary at {perfd_src}")
    # A private copy: a rebuild of the original during the test cannot change what runs.
    perfd = tmp / "perfd"
    shutil.copy2(perfd_src, perfd)
    prometheus = shutil.which("prometheus")
    alertmanager = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if not prometheus or not alertmanager:
        raise FileNotFoundError("needs prometheus and prometheus-alertmanager on PATH "
                                "(apt-get install prometheus prometheus-alertmanager)")

    dashboards = load_dashboards()
    static_dashboard_checks(res, dashboards)

    ports = {k: free_port() for k in ("embedded", "repository", "prometheus", "alertmanager")}
    token = "perfd-test-token-" + os.urandom(6).hex()
    token_file = tmp / "webhook-token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)

    am_cfg = tmp / "alertmanager.yml"
    am_cfg.write_text(alertmanager_config(receiver.port, ports["embedded"], token_file))
    prom_cfg = tmp / "prometheus.yml"
    targets = [f"127.0.0.1:{ports['embedded']}", f"127.0.0.1:{ports['repository']}"]
    prom_cfg.write_text(prometheus_config(targets, ports["alertmanager"]))
    emb_cfg = tmp / "perfd-embedded.toml"
    emb_cfg.write_text(perfd_embedded_config(tmp / "state-embedded", ports["embedded"], token_file))
    repo = fixture_repo(tmp, perfd)
    repo_cfg = tmp / "perfd-repository.toml"
    repo_cfg.write_text(perfd_repository_config(tmp / "state-repository", ports["repository"], repo))

    amtool = shutil.which("amtool")
    if amtool:
        r = subprocess.run([amtool, "check-config", str(am_cfg)], capture_output=True, text=True)
        res.check(r.returncode == 0, "amtool check-config (rewritten example)", r.stdout + r.stderr)
        for labels, want in ((["perfd_action=tune", "alertname=PerfdRegressionConfirmed"], "perfd-tune"),
                             (["alertname=PerfdSLOBreached"], "default")):
            r = subprocess.run([amtool, "config", "routes", "test", f"--config.file={am_cfg}", *labels],
                               capture_output=True, text=True)
            res.check(r.stdout.strip() == want, f"amtool route {' '.join(labels)} -> {want}",
                      r.stdout + r.stderr)
    promtool = shutil.which("promtool")
    if promtool:
        r = subprocess.run([promtool, "check", "config", str(prom_cfg)], capture_output=True, text=True)
        res.check(r.returncode == 0, "promtool check config (test Prometheus)", r.stdout + r.stderr)
    for cfg in (emb_cfg, repo_cfg):
        r = subprocess.run([str(perfd), "check-config", str(cfg)], capture_output=True, text=True)
        if not res.check(r.returncode == 0, f"perfd check-config {cfg.name}", r.stdout + r.stderr):
            raise RuntimeError("the test's perfd configuration is invalid for this perfd")

    t0 = time.monotonic()
    env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info"))
    servers.start("alertmanager", [alertmanager, f"--config.file={am_cfg}",
                                   f"--storage.path={tmp / 'am-data'}",
                                   f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
                                   "--cluster.listen-address="])
    servers.start("prometheus", [prometheus, f"--config.file={prom_cfg}",
                                 f"--storage.tsdb.path={tmp / 'prom-data'}",
                                 f"--web.listen-address=127.0.0.1:{ports['prometheus']}"])
    servers.start("perfd-embedded", [str(perfd), "run", "--config", str(emb_cfg)], env=env, cwd=tmp)
    servers.start("perfd-repository", [str(perfd), "run", "--config", str(repo_cfg)], env=env, cwd=tmp)

    prom = f"http://127.0.0.1:{ports['prometheus']}"
    am = f"http://127.0.0.1:{ports['alertmanager']}"
    emb = f"http://127.0.0.1:{ports['embedded']}"
    rep = f"http://127.0.0.1:{ports['repository']}"
    for name, url in (("alertmanager", f"{am}/-/ready"), ("prometheus", f"{prom}/-/ready"),
                      ("perfd embedded", f"{emb}/readyz"), ("perfd repository", f"{rep}/readyz")):
        wait_for(f"{name} ready", START_DEADLINE_S, lambda u=url: fetch("GET", u)[0] == 200, servers)
        res.ok(f"{name} ready ({time.monotonic() - t0:.1f} s)")

    def series(expr: str):
        kind, got = prom_query(prom, expr)
        if kind == "error":
            raise RuntimeError(f"query {expr!r} failed: {got}")
        return got

    wait_for("Prometheus scraping both perfd targets", START_DEADLINE_S,
             lambda: len(series('up{job="perfd"} == 1')) == 2, servers)
    res.ok("Prometheus scrapes both perfd targets")
    status, body = fetch("GET", f"{prom}/api/v1/rules")
    groups = json.loads(body)["data"]["groups"] if status == 200 else []
    res.check({g["name"] for g in groups} >= {"perfd.recording", "perfd.alerts"},
              "Prometheus loaded alerts/perfd.rules.yml", str([g["name"] for g in groups]))

    # The repository daemon needs a second commit to have a baseline (regression ratio).
    def runs(base: str):
        s, b = fetch("GET", f"{base}/api/v1/runs")
        if s != 200:
            return []
        j = json.loads(b)
        return j if isinstance(j, list) else j.get("runs", [])
    wait_for("first repository commit benchmarked", STATE_DEADLINE_S,
             lambda: any(r.get("status") == "success" for r in runs(rep)), servers)
    (repo / "CHANGELOG").write_text("second\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "second")
    log(f"second commit pushed to the fixture repository ({time.monotonic() - t0:.1f} s)")

    # The planted SLO breach: daemon -> Prometheus -> rule -> Alertmanager -> receiver.
    wait_for("bitnet_slo_ok{slo=decode_tokens_per_second} == 0 in Prometheus", STATE_DEADLINE_S,
             lambda: series('bitnet_slo_ok{job="perfd", slo="decode_tokens_per_second"} == 0'), servers)
    res.ok(f"planted SLO breach scraped ({time.monotonic() - t0:.1f} s)")
    wait_for("bitnet_slo_ok{slo=context_decode_tokens_per_second_64} == 1 in Prometheus",
             STATE_DEADLINE_S,
             lambda: series('bitnet_slo_ok{job="perfd", slo="context_decode_tokens_per_second_64"} == 1'),
             servers)
    res.ok("the SLO on decode after 64 cached positions is judged met and scraped")
    wait_for("bitnet_slo_ok{slo=decode_same_window_roofline_ratio} == 1 in Prometheus",
             STATE_DEADLINE_S,
             lambda: series('bitnet_slo_ok{job="perfd", slo="decode_same_window_roofline_ratio"} == 1'),
             servers)
    res.ok("the SLO on decode's same-window roofline ratio is judged met and scraped")
    wait_for("PerfdSLOBreached firing in Prometheus", STATE_DEADLINE_S,
             lambda: series('ALERTS{alertname="PerfdSLOBreached", alertstate="firing"}'), servers)
    res.ok(f"PerfdSLOBreached fires in Prometheus ({time.monotonic() - t0:.1f} s)")

    def am_alerts():
        s, b = fetch("GET", f"{am}/api/v2/alerts")
        return json.loads(b) if s == 200 else []
    got = wait_for("PerfdSLOBreached in Alertmanager", STATE_DEADLINE_S,
                   lambda: [a for a in am_alerts() if a["labels"].get("alertname") == "PerfdSLOBreached"],
                   servers)
    a = got[0]
    res.check(a["labels"].get("slo") == "decode_tokens_per_second"
              and a["labels"].get("instance") == f"127.0.0.1:{ports['embedded']}"
              and a["annotations"].get("runbook_url", "").startswith("https://"),
              "Alertmanager holds PerfdSLOBreached with its labels and runbook_url", json.dumps(a))
    got = wait_for("PerfdSLOBreached at the default receiver", STATE_DEADLINE_S,
                   lambda: [x for x in receiver.alerts_at("/default")
                            if x[1]["labels"].get("alertname") == "PerfdSLOBreached"], servers)
    res.check(got[0][1]["status"] == "firing", "default receiver got PerfdSLOBreached (firing)",
              json.dumps(got[0][1]))
    res.check(not [x for x in receiver.alerts_at("/tune")
                   if x[1]["labels"].get("alertname") == "PerfdSLOBreached"],
              "PerfdSLOBreached is not sent to perfd's tune webhook")

    # The tune route: an alert as PerfdRegressionConfirmed would raise it, posted to Alertmanager
    # directly (a real confirmed regression needs a slower build, which this test does not plant).
    now = time.time()
    synthetic = [{
        "labels": {"alertname": "PerfdRegressionConfirmed", "perfd_action": "tune", "job": "perfd",
                   "instance": f"127.0.0.1:{ports['repository']}", "severity": "warning",
                   "test": "synthetic"},
        "annotations": {"summary": "synthetic alert from tests/observability/real_servers.py"},
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 5)),
        "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 300)),
    }]
    s, b = fetch("POST", f"{am}/api/v2/alerts", json.dumps(synthetic).encode(),
                {"Content-Type": "application/json"})
    res.check(s == 200, "Alertmanager accepts a perfd_action=tune alert", f"HTTP {s}: {b[:200]!r}")
    emb = f"http://127.0.0.1:{ports['embedded']}"

    def tuning_jobs() -> float:
        s, b = fetch("GET", f"{emb}/metrics")
        if s != 200:
            return 0.0
        total = 0.0
        for line in b.decode().splitlines():
            if line.startswith("bitnet_tuning_runs_total{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    got = wait_for("a tuning job run by perfd's webhook (Alertmanager -> /api/v1/alerts)",
                   STATE_DEADLINE_S, lambda: tuning_jobs() >= 1.0 or None, servers)
    perfd_log = servers.log_tail("perfd-embedded", 400)
    res.check("tuning job queued by an alert" in perfd_log
              and "trigger=alert:PerfdRegressionConfirmed" in perfd_log,
              "perfd's webhook accepted Alertmanager's call (bearer token from credentials_file) and queued a job",
              perfd_log[-2000:])
    res.check("wrong bearer token" not in perfd_log and "missing Authorization" not in perfd_log,
              "no webhook call was refused", perfd_log[-2000:])
    res.check(not [x for x in receiver.alerts_at("/default")
                   if x[1]["labels"].get("perfd_action") == "tune"],
              "perfd_action=tune alerts are not sent to the default receiver")

    # Enough data for every dashboard query: the second commit judged against the first (regression
    # ratio and gates), a successful embedded run with kernels, and the recording rules evaluated.
    for what, expr in (
        ("regression ratio from the repository daemon", 'bitnet_regression_ratio{job="perfd"}'),
        ("gate status from the repository daemon", 'bitnet_gate_status{job="perfd"}'),
        ("kernel figures from the embedded daemon", 'bitnet_kernel_roofline_ratio{job="perfd"}'),
        ("recording rules evaluated", 'instance_model_backend:bitnet_inference_roofline_ratio:avg_over_time6h'),
    ):
        wait_for(what, STATE_DEADLINE_S, lambda e=expr: series(e), servers)
    log(f"data ready for the dashboard queries ({time.monotonic() - t0:.1f} s)")
    empty = dashboard_query_checks(res, prom, dashboards, servers)
    if empty:
        log(f"{len(empty)} queries were empty where allowed (marked '{MAY_BE_EMPTY}')")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--perfd", required=True, help="path of the perfd binary (copied before use)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()

    # SIGTERM ends the test like Ctrl-C does: through the finally block below.
    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)

    res = Results()
    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="perfd-observability-"))
    servers = Servers(tmp)
    receiver = None
    try:
        receiver = Receiver()
        receiver.start()
        run(args, res, tmp, servers, receiver)
    except KeyboardInterrupt as e:
        res.fail("interrupted", str(e) or "Ctrl-C")
    except Exception as e:  # noqa: BLE001 (reported as a failed check, servers still stopped)
        res.fail("run", f"{type(e).__name__}: {e}")
        print(servers.tails(), flush=True)
    finally:
        # A second Ctrl-C or SIGTERM must not cut the cleanup short and leave servers running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        servers.stop_all()
        if receiver is not None:
            receiver.stop()
        if args.keep or res.failed:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    log(f"took {time.monotonic() - t0:.1f} s")
    print(f"observability: {res.passed} passed, {res.failed} failed", flush=True)
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
