"""Seed 001's monitoring on a large audit log, against GET /v1/audit in the same run. Prints one
JSON object.

Workload (fixed): a real `cifer keyservice serve` process on loopback (plain HTTP, SQLite in its
data directory, file KEK, an admin API key); KEYS seed-001 keys (`POST /api/security/keys/generate`:
USERS users x the four key types, cifers named `keyType:userId`; health keys HIPAA, financial keys
GDPR and CCPA, every fifth user-data key GDPR; every 50th key ChaCha20-Poly1305) and RECORDS usage
records spread uniformly over the DAYS days before the database was generated, bulk-inserted as one
valid HMAC chain under the service's audit key (so every report finds the chain intact): 60%
`encrypt` records (a sidecar's report: count 1-20, bytes, labels data_type and user_id of the
key), 40% `decrypt` records (one key release each: message_id, duration_ms, user_id, purpose;
outcome 95% success, 3% denied, 2% failure), each key used by 2-3 of 16 sidecar principals. The
database is generated once (about 65 s on 2 cores: 11 s of keys, 54 s of records) and cached in
$TMPDIR/cifer-bench-reports-VERSION; every run works on a fresh copy of it. The period asked about
is the generated one (it ends at the generation time, not now), so on a cached run the detectors'
15-minute scan finds nothing new.
No ANALYZE is run: the planner sees the database as the service leaves it (without statistics;
migration 0008 keeps it from indexes that would mislead it). Timing starts once the service's first full pass over the chain (chain_watch.py) is done.

Figures (milliseconds; medians of REQUESTS sequential requests on one keep-alive connection,
after WARMUP of each; the four request kinds interleaved, one key per round):
- audit_query_p50_ms: GET /api/security/audit/encryption, keyId + operation=decrypt + the last
  30 days, limit 50 (counts, breakdowns, the page, its chain check). Goal <= 50.
- audit_query_user_p50_ms: the same with userId + dataType over the DAYS days. Goal <= 50.
- baseline_v1_audit_p50_ms: GET /v1/audit, cifer_id + operation=decrypt + the same 30 days, limit 50.
- audit_vs_v1 / audit_user_vs_v1: the seed query's time over the baseline's (median of per-round ratios).
- usage_day_buckets_p50_ms: GET /api/security/keys/{keyId}/usage?period=day over the DAYS days. Goal <= 100.
- report_pdf_s: POST /api/security/reports/generate, compliance_status, pdf, every key, the DAYS
  days (seconds, median of REPORT_ROUNDS). Goal <= 10.
- report_json_s: the same report as json (no series, no rendering): report_pdf_s - report_json_s
  is about the PDF's share (the per-key daily series and reportlab).
- report_chain_intact: what the report said of the chain (auditChainIntact).
- chain_full_pass_s: how long the service took, after start, to verify the whole chain once (the
  watch then verifies only what is appended: reports do not pay for the whole log).
- goals_met: per figure with a goal.

Usage: python bench/reports.py [--fresh]   (--fresh: generate the database again)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from ports import free_port  # noqa: E402
from proxy.processes import stop  # noqa: E402

VERSION = "1"  # of the generated database: change it when the workload or the schema changes
USERS = 250
KEY_TYPES = ("user-data", "health-data", "financial-data", "backup")  # cifer.dataprotection.keytypes
KEYS = USERS * len(KEY_TYPES)
RECORDS = 1_000_000
DAYS = 90
AUDIT_DAYS = 30
PRINCIPALS = [f"system:serviceaccount:apps:sidecar-{n}" for n in range(16)]
DATA_TYPE = {"user-data": "personal", "health-data": "health", "financial-data": "financial", "backup": "personal"}
BATCH = 20_000  # rows per executemany
WARMUP = 2
REQUESTS = 20
REPORT_ROUNDS = 3
GOALS = {"audit_query_p50_ms": 50, "audit_query_user_p50_ms": 50, "usage_day_buckets_p50_ms": 100, "report_pdf_s": 10}
CACHE = Path(tempfile.gettempdir()) / f"cifer-bench-reports-{VERSION}"


def log(message: str) -> None:
    print(f"[reports] {message}", file=sys.stderr, flush=True)


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Service:
    """`cifer keyservice serve` on a data directory, rate limits lifted for the load."""

    def __init__(self, data: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._stderr = (data.parent / f"keyservice-{self.port}.log").open("w")
        self.proc = subprocess.Popen(
            [*cli(data), "serve", "--port", str(self.port), "--rate-limit", "create=1000000/60",
             "--rate-limit", "get=1000000/60"], stdout=subprocess.DEVNULL, stderr=self._stderr)
        deadline = time.monotonic() + 120
        while not asyncio.run(_healthy(self.url)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the key service did not start; see {self._stderr.name}")
            time.sleep(0.2)

    def stop(self) -> None:
        stop(self.proc)
        self._stderr.close()


def cli(data: Path) -> list[str]:
    return [sys.executable, "-m", "cifer.cli", "keyservice", "--data-dir", str(data)]


def api_key(data: Path, owner: str, *scopes: str) -> str:
    made = subprocess.run([*cli(data), "apikey", "create", "--owner", owner, *[f"--scope={s}" for s in scopes]],
                          check=True, capture_output=True, text=True, timeout=120)
    return json.loads(made.stdout)["key"]


async def _healthy(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(url + "/v1/health") as resp:
            return resp.status == 200
    except aiohttp.ClientError:
        return False


# ---- generation ------------------------------------------------------------------------------

def key_request(user: str, key_type: str, n: int) -> dict:
    regulation = {"health-data": "HIPAA", "financial-data": "GDPR, CCPA"}.get(key_type)
    if key_type == "user-data" and n % 5 == 0:
        regulation = "GDPR"
    metadata = {"purpose": f"{key_type} of {user}", "dataClassification": "confidential" if regulation else "internal"}
    if regulation:
        metadata["regulatoryRequirement"] = regulation
    return {"userId": user, "keyType": key_type, "algorithm": "ChaCha20-Poly1305" if n % 50 == 49 else "AES-256-GCM",
            "keyUsage": "both", "metadata": metadata}


async def make_keys(url: str, key: str) -> list[dict]:
    """KEYS seed-001 keys through the API, 8 at a time: [{keyId, userId, keyType}]."""
    bodies = [key_request(f"user_{u:04d}", key_type, u * len(KEY_TYPES) + t)
              for u in range(USERS) for t, key_type in enumerate(KEY_TYPES)]
    made: list[dict] = []
    queue = iter(bodies)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        async def worker() -> None:
            for body in queue:
                async with http.post(url + "/api/security/keys/generate", json=body) as resp:
                    answer = await resp.json()
                    if resp.status != 201:
                        raise SystemExit(f"generate: {resp.status} {answer}")
                made.append({"keyId": answer["data"]["keyId"], "userId": body["userId"], "keyType": body["keyType"]})
        await asyncio.gather(*(worker() for _ in range(8)))
    return sorted(made, key=lambda k: (k["userId"], k["keyType"]))


async def audit_key(data: Path) -> bytes:
    """The `audit` service key, unwrapped by the data directory's file KEK as `audit verify` does."""
    from cifer.keystore.file_kek import FileKek
    from cifer_keyservice import servicekeys
    from cifer_keyservice.db.engine import create_engine, default_url, sessions
    engine = create_engine(default_url(data))
    kek = FileKek.open(data / "kek.key", create=False)
    try:
        return (await servicekeys.load(sessions(engine), kek))[servicekeys.AUDIT]
    finally:
        kek.close()
        await engine.dispose()


def records(keys: list[dict], end: datetime.datetime, rng: random.Random):
    """RECORDS (at, principal, operation, outcome, cifer_id, key_version, details), oldest first."""
    start_s, span_s = (end - datetime.timedelta(days=DAYS)).timestamp(), DAYS * 86400.0
    moments = sorted(start_s + rng.random() * span_s for _ in range(RECORDS))
    users = [rng.sample(PRINCIPALS, rng.choice((2, 3))) for _ in keys]
    for n, moment in enumerate(moments):
        k = rng.randrange(len(keys))
        key, principal = keys[k], rng.choice(users[k])
        at = datetime.datetime.fromtimestamp(moment, datetime.UTC)
        labels = {"data_type": DATA_TYPE[key["keyType"]], "user_id": key["userId"]}
        agent = {"user_agent": "cifer-sidecar/0.9"}
        if rng.random() < 0.6:
            count = rng.randint(1, 20)
            window = {"start": iso(at - datetime.timedelta(seconds=10)), "end": iso(at)}
            details = {"count": count, "bytes": count * rng.randint(200, 5000), "window": window,
                       "report_id": f"rpt_{n:016x}", **labels, **agent}
            yield at, principal, "encrypt", "success", key["keyId"], None, details
            continue
        draw = rng.random()
        outcome = "success" if draw < 0.95 else "denied" if draw < 0.98 else "failure"
        context = {"purpose": "treatment", "user_id": key["userId"]}
        if outcome == "success":
            details = {"message_id": rng.randbytes(16).hex(), **context, "data_type": labels["data_type"]}
        else:
            details = {"error": "UNAUTHORIZED_DECRYPT" if outcome == "denied" else "INVALID_CIPHERTEXT", **context}
        details |= {"duration_ms": round(rng.uniform(0.8, 12.0), 3), **agent}
        yield at, principal, "decrypt", outcome, key["keyId"], 1, details


def bulk_insert(data: Path, key: bytes, keys: list[dict], end: datetime.datetime) -> int:
    """RECORDS rows chained after the log's head, as `AuditLog.append_rows` chains them, in
    BATCH-row executemany; the secondary indexes dropped meanwhile and made again after."""
    from sqlalchemy import create_engine, insert, text

    from cifer_keyservice.audit import _MOVE_HEAD, _READ_HEAD, _fields, _head_mac, _mac
    from cifer_keyservice.db.models import AuditRecord

    engine = create_engine(f"sqlite:///{data / 'cifer.db'}")
    add = insert(AuditRecord.__table__)
    rng = random.Random(1)
    with engine.begin() as db:
        db.execute(text("PRAGMA cache_size=-1000000"))
        db.execute(text("PRAGMA synchronous=OFF"))
        indexes = db.execute(text("SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='audit_log' "
                                  "AND sql IS NOT NULL")).all()
        for name, _sql in indexes:
            db.execute(text(f'DROP INDEX "{name}"'))
        head = db.execute(_READ_HEAD).first()
        if head.mac != _head_mac(key, head.seq, head.hash):
            raise SystemExit("the audit head does not verify under the audit key")
        seq, prev_hash, rows = head.seq, head.hash, []
        for at, principal, operation, outcome, cifer_id, version, details in records(keys, end, rng):
            seq += 1
            row = {"seq": seq, "at": at, "principal": principal, "operation": operation, "cifer_id": cifer_id,
                   "key_version": version, "outcome": outcome, "request_id": f"req_{seq:012x}",
                   "source": f"10.0.{seq % 7}.{seq % 251 + 2}", "details": details, "prev_hash": prev_hash}
            row["hash"] = prev_hash = _mac(key, prev_hash.encode(), _fields(row))
            rows.append(row)
            if len(rows) == BATCH:
                db.execute(add, rows)
                rows = []
        if rows:
            db.execute(add, rows)
        db.execute(_MOVE_HEAD, {"seq": seq, "hash": prev_hash, "mac": _head_mac(key, seq, prev_hash)})
        for _name, sql in indexes:
            db.execute(text(sql))
    with engine.connect() as db:
        db.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    return seq


def generate(target: Path) -> dict:
    """The data directory and workload.json in `target`; generated in a sibling, then renamed."""
    work = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    data = work / "data"
    started = time.perf_counter()
    admin = api_key(data, "usr_admin", "admin")
    app = api_key(data, "usr_app", "cifer:create", "encrypt", "decrypt")
    service = Service(data)
    try:
        keys = asyncio.run(make_keys(service.url, app))
    finally:
        service.stop()
    made_keys_s = time.perf_counter() - started
    log(f"{len(keys)} keys in {made_keys_s:.1f} s")
    end = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    last_seq = bulk_insert(data, asyncio.run(audit_key(data)), keys, end)
    workload = {"version": VERSION, "admin_key": admin, "end": iso(end), "keys": keys, "last_seq": last_seq,
                "keys_s": round(made_keys_s, 1), "generation_s": round(time.perf_counter() - started, 1)}
    (work / "workload.json").write_text(json.dumps(workload))
    log(f"{RECORDS} records in {workload['generation_s'] - made_keys_s:.1f} s (last seq {last_seq})")
    if target.exists():
        shutil.rmtree(target)
    work.rename(target)
    return workload


# ---- measurement -----------------------------------------------------------------------------

async def timed(http: aiohttp.ClientSession, method: str, url: str, **kwargs) -> tuple[float, dict]:
    """Seconds for one request, its body read; it must answer 200."""
    started = time.perf_counter()
    async with http.request(method, url, **kwargs) as resp:
        body = await resp.read()
    elapsed = time.perf_counter() - started
    if resp.status != 200:
        raise SystemExit(f"{method} {url}: {resp.status} {body[:500]!r}")
    return elapsed, json.loads(body)["data"]


async def measure(url: str, workload: dict) -> dict[str, list[float]]:
    end = datetime.datetime.fromisoformat(workload["end"])
    keys = workload["keys"]
    since_audit, since_all = iso(end - datetime.timedelta(days=AUDIT_DAYS)), iso(end - datetime.timedelta(days=DAYS))
    until = iso(end)
    health = [k for k in keys if k["keyType"] == "health-data"]

    def requests(n: int) -> dict[str, tuple[str, str]]:
        key, user = keys[(n * 37) % len(keys)]["keyId"], health[(n * 11) % len(health)]["userId"]
        return {
            "baseline_v1_audit": ("GET", f"{url}/v1/audit?start_date={since_audit}&end_date={until}&cifer_id={key}"
                                         f"&operation=decrypt&limit=50"),
            "audit_query": ("GET", f"{url}/api/security/audit/encryption?startDate={since_audit}&endDate={until}"
                                   f"&keyId={key}&operation=decrypt&limit=50"),
            "audit_query_user": ("GET", f"{url}/api/security/audit/encryption?startDate={since_all}&endDate={until}"
                                        f"&userId={user}&dataType=health&limit=50"),
            "usage_day_buckets": ("GET", f"{url}/api/security/keys/{key}/usage?period=day&startDate={since_all}"
                                         f"&endDate={until}"),
        }

    report = {"reportType": "compliance_status", "period": {"start": since_all, "end": until}}
    rounds: dict[str, list[float]] = {name: [] for name in requests(0)} | {"report_pdf": [], "report_json": []}
    answers: dict[str, dict] = {}
    headers = {"Authorization": f"Bearer {workload['admin_key']}"}
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=1800)) as http:
        started = time.perf_counter()  # the service verifies the whole chain once after start: not timed over it
        while (await timed(http, "GET", url + "/api/security/health"))[1]["compliance"]["auditChainVerifiedAt"] is None:
            await asyncio.sleep(0.5)
        rounds["chain_full_pass"] = [time.perf_counter() - started]
        log(f"the service's first full chain pass took {rounds['chain_full_pass'][0]:.1f} s")
        for n in range(-WARMUP, REQUESTS):
            for name, (method, target) in requests(n).items():
                elapsed, answers[name] = await timed(http, method, target)
                if n >= 0:
                    rounds[name].append(elapsed * 1000)
        log("queries done")
        for n in range(REPORT_ROUNDS):
            for file_format in ("pdf", "json"):
                elapsed, answers[f"report_{file_format}"] = await timed(
                    http, "POST", url + "/api/security/reports/generate", json={**report, "format": file_format})
                rounds[f"report_{file_format}"].append(elapsed)
                log(f"report {file_format} {n + 1}/{REPORT_ROUNDS}: {elapsed:.1f} s")
        pdf = answers["report_pdf"]["downloadUrl"]
        async with http.get(pdf) as resp:
            pdf_bytes = len(await resp.read())
    rounds["_pdf_bytes"] = [pdf_bytes]
    rounds["_audit_total"] = [answers["audit_query"]["pagination"]["total"]]
    rounds["_audit_user_total"] = [answers["audit_query_user"]["pagination"]["total"]]
    rounds["_chain"] = [_find(answers["report_pdf"], "auditChainIntact")]
    rounds["_page_chain"] = [answers["audit_query"]["auditChain"]["verified"]]
    return rounds


def _find(tree: object, name: str) -> object:
    """The first value of `name` anywhere in a decoded JSON tree."""
    if isinstance(tree, dict):
        if name in tree:
            return tree[name]
        tree = list(tree.values())
    if isinstance(tree, list):
        for item in tree:
            found = _find(item, name)
            if found is not None:
                return found
    return None


def main(fresh: bool) -> None:
    if fresh or not (CACHE / "workload.json").exists():
        log(f"generating {KEYS} keys and {RECORDS} records in {CACHE}")
        workload, cached = generate(CACHE), False
    else:
        workload, cached = json.loads((CACHE / "workload.json").read_text()), True
    with tempfile.TemporaryDirectory(prefix="cifer-bench-reports-run.") as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(CACHE / "data", data)  # the service writes alerts and reports: every run starts alike
        service = Service(data)
        try:
            rounds = asyncio.run(measure(service.url, workload))
        finally:
            service.stop()
    result = {f"{name}_p50_ms": round(statistics.median(rounds[name]), 2)
              for name in ("audit_query", "audit_query_user", "usage_day_buckets", "baseline_v1_audit")}
    result["audit_vs_v1"] = round(statistics.median(
        a / b for a, b in zip(rounds["audit_query"], rounds["baseline_v1_audit"])), 2)
    result["audit_user_vs_v1"] = round(statistics.median(
        a / b for a, b in zip(rounds["audit_query_user"], rounds["baseline_v1_audit"])), 2)
    result["report_pdf_s"] = round(statistics.median(rounds["report_pdf"]), 2)
    result["report_json_s"] = round(statistics.median(rounds["report_json"]), 2)
    result["chain_full_pass_s"] = round(rounds["chain_full_pass"][0], 2)
    result["goals"] = GOALS
    result["goals_met"] = {name: result[name] <= goal for name, goal in GOALS.items()}
    result |= {
        "report_chain_intact": rounds["_chain"][0], "audit_page_chain_verified": rounds["_page_chain"][0],
        "report_pdf_bytes": rounds["_pdf_bytes"][0], "audit_query_matches": rounds["_audit_total"][0],
        "audit_query_user_matches": rounds["_audit_user_total"][0],
        "keys": KEYS, "records": RECORDS, "days": DAYS, "requests": REQUESTS, "report_rounds": REPORT_ROUNDS,
        "database_cached": cached, "generation_s": workload["generation_s"], "version": VERSION,
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--fresh", action="store_true", help="generate the database again")
    main(parser.parse_args().fresh)
