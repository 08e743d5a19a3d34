"""The invariants checked once the queues drain (`check_invariants`, each
result a `Check`), the /metrics scrape they compare against, and the evidence
read from the service logs."""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from http.client import HTTPConnection

from benchmarks.load_faults import FaultDriver, LoadFcm
from benchmarks.load_phones import SimPhone, Stats
from benchmarks.load_queues import job_story, registries
from tests.topology import METRICS_TOKEN


# Job failures that the injected faults explain: the database or Redis was
# away, or the worker was killed. Anything else is a bug, faults or not.
FAULT_ERRORS = re.compile(r"connection failed|terminating connection|server closed the connection|"
                          r"consuming input failed|the connection is closed|the connection is lost|AbandonedJobError|"
                          r"redis\.exceptions\.ConnectionError|Connection refused|AdminShutdown")


def scrape_metrics(base_url: str) -> dict:
    """{(sample name, sorted labels): value} of GET /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    conn = HTTPConnection(base_url.split("//")[1].split(":")[0], int(base_url.rsplit(":", 1)[1]), timeout=30)
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _metric_sum(metrics: dict, name: str, **labels) -> float:
    return sum(v for (n, lab), v in metrics.items() if n == name and all(dict(lab).get(k) == w
                                                                         for k, w in labels.items()))


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def check_invariants(topo, fcm: LoadFcm, org: int, phones: list[SimPhone], stats: Stats, metrics0: dict,
                     metrics1: dict, drained: dict, *, faults: bool, driver: FaultDriver | None,
                     load_started: float = 0.0) -> tuple[list, dict]:
    checks: list[Check] = []
    facts: dict = {}

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append(Check(name, bool(ok), detail))

    # -- calls ------------------------------------------------------------------------------
    stored: dict[int, set] = defaultdict(set)
    per_device = {row[0]: row[1:] for row in topo.sql(
        "SELECT device_id, count(*), count(DISTINCT (android_id, date_ms)), count(processed_at), count(outcome) "
        "FROM calls WHERE organization_id = :o GROUP BY device_id", o=org)}
    for device_id, android_id, date_ms in topo.sql(
            "SELECT device_id, android_id, date_ms FROM calls WHERE organization_id = :o", o=org):
        stored[device_id].add((android_id, date_ms))
    lost, phantom, duplicated, unprocessed, unconfirmed_stored, count_mismatch = [], [], [], [], 0, []
    for phone in phones:
        t = phone.totals
        have = stored.get(phone.device_id, set())
        total, distinct, processed, outcomes = per_device.get(phone.device_id, (0, 0, 0, 0))
        if total != distinct:
            duplicated.append((phone.index, total - distinct))
        missing = t.accepted_ids - have
        if missing:
            lost.append((phone.index, len(missing), sorted(missing)[:3]))
        extra = have - t.accepted_ids
        if extra - t.attempted_ids:
            phantom.append((phone.index, len(extra - t.attempted_ids)))
        unconfirmed_stored += len(extra & t.attempted_ids)
        if processed != total or outcomes != total:
            unprocessed.append((phone.index, total - processed))
        if not faults and t.accepted != len(have):
            count_mismatch.append((phone.index, t.accepted, len(have)))
    calls_total = sum(len(s) for s in stored.values())
    accepted_total = sum(len(p.totals.accepted_ids) for p in phones)
    still_queued = sum(len(p.pending) for p in phones)
    facts.update(calls_stored=calls_total, calls_accepted_by_phones=accepted_total,
                 batches_still_queued_on_phones=still_queued)
    check("every call a phone got accepted is stored (0 lost)", not lost,
          f"{accepted_total:,} accepted row identities, {calls_total:,} stored; lost: {lost or 0}")
    check("every call stored exactly once (0 duplicates)", not duplicated and not phantom,
          f"count = distinct (_id, date) on every device; duplicates {duplicated or 0}, rows no phone sent "
          f"{phantom or 0}" + (f"; {unconfirmed_stored} stored from batches whose answer was lost (the phone "
                               f"still holds them)" if unconfirmed_stored else ""))
    if not faults:
        check("the server's `accepted` counts equal the calls stored", not count_mismatch,
              f"(phone, sum of accepted, stored): {count_mismatch[:5] or 'all equal'}")
    check("the phones hold no batch unsent at the end", still_queued == 0,
          f"{still_queued} batches still queued on the phones after the final flush")
    uploads = topo.sql("SELECT count(*), count(processed_at), coalesce(sum(accepted), 0), min(attempts), "
                       "max(attempts) FROM sync_uploads WHERE organization_id = :o AND kind = 'calls'", o=org)[0]
    check("every upload processed (sync_uploads.processed_at set)", uploads[0] == uploads[1],
          f"{uploads[1]:,} of {uploads[0]:,} uploads processed; attempts per upload {uploads[3]}..{uploads[4]}")
    check("every call processed (calls.processed_at and outcome set)", not unprocessed,
          f"unprocessed per phone: {unprocessed or 0}")
    check("upload accepted counts add up to the calls stored", uploads[2] == calls_total,
          f"sum(sync_uploads.accepted) {uploads[2]:,}, calls {calls_total:,}")
    if not faults:
        check("no upload needed the outbox sweep", drained["final_sweep"] == 0 and drained["swept"] == 0,
              f"the sweep after the drain queued {drained['final_sweep']} uploads")
    leads_twice = topo.sql("SELECT phone, count(*) FROM leads WHERE organization_id = :o GROUP BY phone "
                           "HAVING count(*) > 1", o=org)
    check("one lead per number", not leads_twice, f"numbers with several leads: {leads_twice[:5] or 0}")
    counters = topo.sql(
        "SELECT l.id, l.calls_count, count(c.id) FROM leads l LEFT JOIN calls c ON c.record_type = 'lead' "
        "AND c.record_id = l.id WHERE l.organization_id = :o GROUP BY l.id, l.calls_count "
        "HAVING l.calls_count <> count(c.id)", o=org)
    check("each lead's calls_count equals its calls", not counters, f"(lead, calls_count, calls): {counters[:5] or 0}")

    # -- jobs -------------------------------------------------------------------------------
    jobs = registries(topo)
    stuck = [f"{q}: {job_story(topo, j)}" for q, j in jobs["started"]]
    check("0 stuck jobs (queues, started and scheduled registries empty)",
          jobs["queued"] == 0 and not stuck and jobs["scheduled"] == 0,
          f"queued {jobs['queued']}, scheduled {jobs['scheduled']}, started {len(stuck)}"
          + "".join(f"\n        started: {s}" for s in stuck[:5]))
    facts["failed_jobs"] = [f"{q}: {job_story(topo, j)}" for q, j in jobs["failed"]]
    unexplained = [j for j in facts["failed_jobs"] if not (faults and FAULT_ERRORS.search(j))]
    check("0 failed jobs" + (" besides those the faults explain (database or Redis away)" if faults else ""),
          not unexplained, f"{len(jobs['failed'])} in the failed registries, {len(unexplained)} not explained by "
          f"a fault" + "".join(f"\n        failed: {s}" for s in unexplained[:6]))
    open_twice = topo.sql("SELECT record_type, record_id, count(*) FROM tasks WHERE organization_id = :o "
                          "AND status = 'open' GROUP BY 1, 2 HAVING count(*) > 1", o=org)
    twins = []
    for record_type, record_id, _ in open_twice[:3]:
        twins += topo.sql(
            "SELECT t.id, t.record_type, t.record_id, t.call_id, c.upload_id, c.device_id, t.created_at "
            "FROM tasks t LEFT JOIN calls c ON c.id = t.call_id WHERE t.organization_id = :o AND t.status = 'open' "
            "AND t.record_type = :t AND t.record_id = :r ORDER BY t.id", o=org, t=record_type, r=record_id)
    check("one open call-back task per record", not open_twice,
          f"(record type, id, open tasks): {open_twice[:5] or 0}"
          + "".join(f"\n        task {t[0]} {t[1]} {t[2]}: call {t[3]} of upload {t[4]} (device {t[5]}), "
                    f"created {t[6]:%H:%M:%S.%f}" for t in twins))

    # -- pushes -----------------------------------------------------------------------------
    token_device = {p.fcm_token: p.device_id for p in phones}
    answers = list(fcm.answers)
    by_message: dict[tuple, list] = defaultdict(list)
    for answer in answers:
        by_message[(answer["push_id"], token_device.get(answer["token"]))].append(answer)
    for seq in by_message.values():
        seq.sort(key=lambda a: a["arrived"])
    rows = topo.sql("SELECT id, push_id, device_id, kind, status, attempts, error, "
                    "extract(epoch FROM created_at), extract(epoch FROM expires_at) "
                    "FROM push_messages WHERE organization_id = :o", o=org)
    facts["push_statuses"] = {f"{k} {s}": n for (k, s), n in sorted(Counter((r[3], r[4]) for r in rows).items())}
    by_push_id = defaultdict(list)
    for row in rows:
        by_push_id[row[1]].append(row)
    rings = [(p, push_id, devices, at) for p in phones for push_id, devices, at in p.totals.rings]
    ring_rows_wrong, ring_not_sent, stuck_pushes = [], Counter(), []
    for phone, push_id, devices, _ in rings:
        mine = by_push_id.get(push_id, [])
        if len(mine) != devices or any(r[2] != phone.device_id for r in mine) or (not faults and devices != 1):
            ring_rows_wrong.append((phone.index, push_id[:8], devices, len(mine)))
        for r in mine:
            if r[4] != "sent":
                ring_not_sent[r[4]] += 1
    for row in rows:
        if row[4] in ("queued", "sending"):
            stuck_pushes.append(row)
    sent_twice, attempts_wrong, sent_not_logged, unknown_requests, delivered_not_sent = [], [], [], [], []
    row_keys = {(r[1], r[2]) for r in rows}
    for row in rows:
        seq = by_message.get((row[1], row[2]), [])
        oks = sum(1 for a in seq if a["status"] == 200)
        if oks > 1:
            sent_twice.append((row[0], oks))
        if row[4] == "sent" and oks != 1:
            sent_not_logged.append((row[0], oks))
        if oks and row[4] != "sent":
            delivered_not_sent.append((row[0], row[3], row[4], row[6], row[5],
                                       [(a["status"], round(a["arrived"] - load_started, 1)) for a in seq]))
        if row[4] not in ("queued", "sending") and len(seq) != row[5]:
            attempts_wrong.append((row[0], row[3], row[4], row[6], row[5],
                                   [(a["status"], round(a["arrived"] - load_started, 1)) for a in seq]))
    for key, seq in by_message.items():
        if key not in row_keys:
            unknown_requests.append((key[0], key[1], len(seq), seq[0]["shape"], seq[0]["token"] in token_device,
                                     round(seq[0]["arrived"] - load_started, 1)))
    facts.update(rings=len(rings), rings_failed=sum(p.totals.rings_failed for p in phones),
                 push_messages=len(rows), fcm_requests=len(answers),
                 fcm_statuses=dict(Counter(a["status"] for a in answers)))
    check("one push_messages row per device per ring", not ring_rows_wrong,
          f"{len(rings):,} rings answered 202; (phone, push, devices answered, rows): "
          f"{ring_rows_wrong[:5] or 'all 1:1'}")
    if faults:
        # A worker SIGKILLed between FCM's 200 and writing it down leaves the push
        # 'sending': delivery is at most once, so it is not sent again. Such pushes
        # (FCM's answer within 1.5 s before a kill) are reported, not failed.
        kills = [at for at, text in (driver.events if driver else []) if "killed with SIGKILL" in text]
        in_kill_window = {r[0] for r in rows for a in by_message.get((r[1], r[2]), [])
                          if a["status"] == 200 and any(0 <= k - (a["arrived"] - load_started) <= 1.5 for k in kills)}
        # Claimed ('sending') but never recorded, with a worker SIGKILLed during the
        # run: the sender died around the send (at most once: not resent).
        if kills:
            in_kill_window |= {r[0] for r in stuck_pushes if r[4] == "sending"}
        facts["pushes_lost_to_a_kill_after_fcm_answered"] = sorted(in_kill_window)
        stuck_pushes = [r for r in stuck_pushes if r[0] not in in_kill_window]
        # A request cut off by the kill reaches the fake without a usable body.
        unknown_requests[:] = [u for u in unknown_requests
                               if not any(0 <= k - u[5] <= 1.5 for k in kills)]
        delivered_not_sent[:] = [d for d in delivered_not_sent if d[0] not in in_kill_window]
        delivered = [r for r in stuck_pushes if any(a["status"] == 200 for a in by_message.get((r[1], r[2]), []))]
        check("no push left queued or sending (every push reached a final status)", not stuck_pushes,
              f"{len(stuck_pushes)} push_messages still 'queued'/'sending' after the drain, {len(delivered)} of them "
              f"delivered by FCM all the same (200 in the fake's log)"
              + "".join(f"\n        #{r[0]} {r[3]} device {r[2]} created at {float(r[7]) - load_started:+.1f}s "
                        f"into the load, status {r[4]}; FCM requests for it: "
                        f"{[a['status'] for a in by_message.get((r[1], r[2]), [])]}" for r in stuck_pushes[:8]))
        odd = {s: n for s, n in ring_not_sent.items() if s not in ("sent", "expired", "token_removed", "failed",
                                                                   "queued", "sending")}
        check("ringing pushes end sent, expired, token removed or failed (no token)", not odd,
              f"ringing pushes not sent, by status: {dict(ring_not_sent) or 0} ('queued': see above)")
    else:
        check("every ringing push sent (status sent)", not ring_not_sent,
              f"ringing pushes not sent, by status: {dict(ring_not_sent) or 0}")
        not_sent = Counter(r[4] for r in rows if r[4] != "sent" or r[5] != 1)
        check("every push sent at the first attempt", not not_sent, f"otherwise: {dict(not_sent) or 0}")
    check("the fake FCM got exactly one request per push message (per attempt)",
          not sent_twice and not attempts_wrong and not sent_not_logged and not unknown_requests,
          f"{len(answers):,} requests for {len(rows):,} messages; delivered twice {sent_twice[:5] or 0}; "
          f"'sent' without exactly one 200 {sent_not_logged[:5] or 0}; requests for no recorded message "
          f"{unknown_requests[:5] or 0}; attempts recorded != requests: {len(attempts_wrong)}"
          + "".join(f"\n        #{a[0]} {a[1]}: recorded {a[2]} ({a[3]}) after {a[4]} attempts; FCM got "
                    f"(status, s into the load): {a[5]}" for a in attempts_wrong[:6]))
    check("every push FCM accepted is recorded as sent", not delivered_not_sent,
          f"{len(delivered_not_sent)} messages FCM answered 200 for are recorded otherwise"
          + "".join(f"\n        #{a[0]} {a[1]}: recorded {a[2]} ({a[3]}), attempts {a[4]}; FCM got (status, s into "
                    f"the load): {a[5]}" for a in delivered_not_sent[:6]))
    late = [(r[0], r[3]) for r in rows for a in by_message.get((r[1], r[2]), []) if a["arrived"] > float(r[8])]
    facts["sends_after_ttl"] = len(late)

    # -- faults: dead tokens, Retry-After ---------------------------------------------------
    if faults and driver is not None:
        dead = {p.fcm_token: p for p in driver.dead_phones}
        tokens_left, after_gone, gone_at = [], [], {}
        for token, phone in dead.items():
            gone = [a for a in answers if a["token"] == token and a["status"] == 404]
            if not gone:
                continue
            gone_at[token] = min(a["answered"] for a in gone)
        for token, phone in dead.items():
            value = topo.scalar("SELECT fcm_token FROM devices WHERE id = :d", d=phone.device_id)
            if token in gone_at and value is not None:
                tokens_left.append(phone.device_id)
            if token in gone_at:
                later = [a for a in answers if a["token"] == token and a["arrived"] > gone_at[token] + 1.0]
                after_gone += [(phone.device_id, a["kind"], a["push_id"][:8], round(a["arrived"] - gone_at[token], 2))
                               for a in later]
        check("UNREGISTERED devices' tokens removed (devices.fcm_token NULL)",
              len(gone_at) == len(dead) and not tokens_left,
              f"{len(dead)} devices made UNREGISTERED, {len(gone_at)} of them told so by FCM; tokens still set: "
              f"{tokens_left or 0}")
        check("no push sent to a removed token afterwards", not after_gone,
              f"requests more than 1 s after the first UNREGISTERED answer: {after_gone[:5] or 0}")
        too_soon, spaced, slack = [], 0, []
        for (push_id, device_id), seq in by_message.items():
            for prev, nxt in zip(seq, seq[1:]):
                if prev["retry_after"] is None:
                    continue
                gap = nxt["arrived"] - prev["answered"]
                spaced += 1
                slack.append(gap - prev["retry_after"])
                if gap < prev["retry_after"] - 0.05:
                    too_soon.append((push_id[:8], device_id, prev["status"], prev["retry_after"], round(gap, 3)))
        retried_with_ra = sum(1 for a in answers if a["retry_after"] is not None)
        spacing = (f"{retried_with_ra} answers carried Retry-After, {spaced} were retried, smallest margin "
                   f"{min(slack):.2f}s" if slack else f"{retried_with_ra} answers carried Retry-After, none retried")
        check("FCM retries spaced by at least Retry-After", not too_soon and spaced > 0,
              spacing + (f"; too soon (push, device, status, Retry-After, gap): {too_soon[:5]}" if too_soon else ""))
        check("every fault was made", not driver.errors and len(driver.events) >= 8,
              f"{len(driver.events)} events; errors: {driver.errors or 0}")

    # -- /metrics ---------------------------------------------------------------------------
    answered = stats.answered()
    mismatched = []
    for (method, rule), count in sorted(answered.items()):
        served = (_metric_sum(metrics1, "callsync_request_seconds_count", endpoint=rule, method=method)
                  - _metric_sum(metrics0, "callsync_request_seconds_count", endpoint=rule, method=method))
        if round(served) != count:
            mismatched.append((f"{method} {rule}", count, round(served)))
    ingest = (_metric_sum(metrics1, "callsync_ingest_rows_total", kind="calls", result="accepted")
              - _metric_sum(metrics0, "callsync_ingest_rows_total", kind="calls", result="accepted"))
    db_status = Counter(r[4] for r in rows)
    # An estimate from the id range (never below the rows kept); this run's
    # organisation is the only one.
    kept = _metric_sum(metrics1, "callsync_push_messages_kept")
    outcomes_sent = _metric_sum(metrics1, "callsync_push_outcomes_total", status="sent")
    depth = _metric_sum(metrics1, "callsync_queue_depth")
    problems = []
    if mismatched:
        problems.append(f"requests (endpoint, answered to the phones, counted by /metrics): {mismatched[:6]}")
    if round(ingest) != calls_total:
        problems.append(f"ingest accepted rows {ingest:,.0f} != calls stored {calls_total:,}")
    if round(kept) < len(rows):
        problems.append(f"pushes kept estimate {kept:,.0f} < rows in the database {len(rows):,}")
    if round(outcomes_sent) != db_status.get("sent", 0):
        problems.append(f"push outcome 'sent' counter {outcomes_sent:,.0f} != database {db_status.get('sent', 0)}")
    if depth:
        problems.append(f"queue depth {depth}")
    check("/metrics agrees with the counts", not problems,
          "; ".join(problems) if problems else
          f"requests per endpoint, {calls_total:,} ingest rows, {len(rows):,} push outcomes, queue depth 0")
    return checks, facts


def service_log_excerpt(topo, lines: int = 25) -> str:
    """The last lines of each service log that are not access-log lines."""
    parts = []
    for proc in [topo.web, *topo.workers]:
        if proc is None:
            continue
        try:
            text = proc.log_path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        kept = [line for line in text if not line.startswith('127.0.0.1 "')]
        parts.append(f"--- {proc.name} ({len(kept)} lines besides the access log) ---\n" + "\n".join(kept[-lines:]))
    return "\n".join(parts)


LOG_PATTERNS = {
    "could not queue send_push": "could not queue send_push",
    "could not queue process_call_upload": "could not queue process_call_upload",
    "deadlock detected": "DeadlockDetected",
    "MultipleResultsFound": "MultipleResultsFound",
    "unhandled OperationalError (web)": "unhandled OperationalError",
    "worker quit on a Redis error": "Error 111 connecting",
}


def log_evidence(topo) -> dict:
    """How often the service logs say what the invariants point at."""
    counts: Counter = Counter()
    for proc in [topo.web, *topo.workers]:
        try:
            text = proc.log_path.read_text(errors="replace")
        except (OSError, AttributeError):
            continue
        for label, needle in LOG_PATTERNS.items():
            counts[f"{label} [{proc.name}]"] += text.count(needle)
    return {k: v for k, v in sorted(counts.items()) if v}
