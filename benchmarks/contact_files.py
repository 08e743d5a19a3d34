"""Contact files in: 100,000 contacts from a vCard file and from a Google
Contacts CSV through `POST /api/v1/contacts/import` (the Flask test client:
routing, auth, the body limit, detection, the domain code, the commits),
and our own CSV of the same contacts, on SQLite and a real PostgreSQL.

The fixed reference, measured in the same run: a naive parse of the same
file with the standard library alone (csv.reader; for vCard, unfolding
lines and splitting properties), in a process of its own, storing nothing
and normalising no number (`naive_parse`). `x parse` is the import's time
over it: what detecting, mapping, cleaning, normalising the numbers,
merging and storing add to reading the file.

    .venv/bin/python benchmarks/contact_files.py [--contacts 100000] [--db sqlite,postgresql]

Each import runs in a process of its own, the file streamed from disk (the
test client reads the body from the open file). Its peak resident memory is
reset just before the import (Linux: /proc/self/clear_refs), so the peak
during the import less the memory held before it shows whether the file was
streamed: a file held whole, or its records all kept, would grow it by
several times the file's size. The target is 10 s for each
format on each database; the exit status is 1 when it is missed.
"""
from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from contacts_import import build_app, clear_caches, make_csv  # noqa: E402 (benchmarks/contacts_import.py)

TARGET_S = 10.0
FORMATS = ("callsync_csv", "google_csv", "vcard")
GOOGLE_HEADER = ["First Name", "Middle Name", "Last Name", "Organization Name", "E-mail 1 - Label",
                 "E-mail 1 - Value", "Phone 1 - Label", "Phone 1 - Value", "Phone 2 - Label", "Phone 2 - Value",
                 "Labels"]


def _people(ours: bytes):
    reader = csv.reader(io.StringIO(ours.decode()))
    next(reader)
    for name, company, email, _source, phones in reader:
        yield name, company, email, [p.strip() for p in phones.split(";")]


def make_google(ours: bytes) -> bytes:
    """The same people as Google Contacts exports them (current headers)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(GOOGLE_HEADER)
    for name, company, email, phones in _people(ours):
        first, _, last = name.partition(" ")
        mobile, *work = phones
        writer.writerow([first, "", last, company, "* Work" if email else "", email, "Mobile", mobile,
                         "Work" if work else "", " ::: ".join(work), "* myContacts"])
    return out.getvalue().encode()


def make_vcard(ours: bytes) -> bytes:
    """The same people as vCard 3.0 cards, as a phone exports them; every
    fifth card's FN folded, every seventh a 2.1 card with a QUOTED-PRINTABLE name."""
    out = io.StringIO()
    for i, (name, company, email, phones) in enumerate(_people(ours)):
        first, _, last = name.partition(" ")
        if i % 7 == 0:
            encoded = "".join(f"={b:02X}" if b > 126 or b in (61,) else chr(b) for b in name.encode())
            lines = ["BEGIN:VCARD", "VERSION:2.1", f"N:{last};{first};;;",
                     f"FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:{encoded}"]
            lines += [f"TEL;{'CELL' if n == 0 else 'WORK'}:{p}" for n, p in enumerate(phones)]
        else:
            fn = f"FN:{name}" if i % 5 else f"FN:{name[:3]}\r\n {name[3:]}"
            lines = ["BEGIN:VCARD", "VERSION:3.0", f"N:{last};{first};;;", fn]
            lines += [f"TEL;TYPE={'CELL' if n == 0 else 'WORK'}:{p}" for n, p in enumerate(phones)]
        if company:
            lines.append(f"ORG:{company}")
        if email:
            lines.append(f"EMAIL;TYPE=INTERNET:{email}")
        lines.append("END:VCARD")
        out.write("\r\n".join(lines) + "\r\n")
    return out.getvalue().encode()


def naive_parse(format_: str, path: str) -> dict:
    """The reference: the file parsed with the standard library only, in a
    process of its own: rows and phone values counted, nothing kept."""
    started = time.perf_counter()
    rows = phones = 0
    with open(path, encoding="utf-8-sig", newline="") as text:
        if format_ == "vcard":
            line = ""
            for raw in itertools.chain(text, [""]):  # "": the end, so the last line is looked at too
                if raw[:1] in (" ", "\t"):  # a folded line continues the last
                    line += raw[1:].rstrip("\r\n")
                    continue
                name = line.partition(":")[0].upper()
                if name.startswith("TEL"):
                    phones += bool(line.partition(":")[2])
                elif name == "END":
                    rows += 1
                line = raw.rstrip("\r\n")
        else:
            reader = csv.reader(text)
            header = next(reader)
            columns = [i for i, name in enumerate(header) if "phone" in name.lower()]
            for row in reader:
                rows += 1
                phones += sum(1 for i in columns if row[i])
    return {"format": format_, "seconds": time.perf_counter() - started, "rows": rows, "phones": phones}


def _rss_kb(field: str) -> int:
    """VmRSS or VmHWM (the peak since the last reset) of this process, in KB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def _cpu_seconds() -> float:
    """CPU of this process and of its finished children (the import's worker
    processes; not the database server): tells a busy machine from slow code."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # the peak resident set size starts again from the current one


def _server_cpu(app) -> float | None:
    """CPU seconds used so far by the PostgreSQL backends of this process's
    connections (same machine: /proc), or None on SQLite."""
    from server.extensions import db

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            return None
        with db.engine.connect() as connection:
            pids = connection.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend'").scalars().all()
            pids.append(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar())
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def child(format_: str, path: str, database_url: str, data_dir: str, n: int, profile: str | None = None) -> dict:
    """One import in this process: seconds and peak memory growth."""
    app = build_app(database_url, data_dir)
    client = app.test_client()
    response = client.post("/api/v1/signup", json={
        "organization": f"Files {n}", "region": "IN", "name": "Bench Admin", "email": f"files{n}@example.test",
        "password": "correct horse battery staple"})
    token = response.json["token"]
    clear_caches()
    _reset_peak()
    before = _rss_kb("VmRSS")
    size = os.path.getsize(path)
    server_cpu_before = _server_cpu(app)
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    with open(path, "rb") as body:
        cpu_started = _cpu_seconds()
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        response = client.post("/api/v1/contacts/import", data=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream",
            "Content-Length": str(size)})
        if profiler:
            profiler.disable()
            profiler.dump_stats(f"{profile}.{format_}.prof")
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu_started
    # The database server's CPU: its backends live on after the request (the pool).
    server_cpu = None if server_cpu_before is None else _server_cpu(app) - server_cpu_before
    peak = _rss_kb("VmHWM")
    report = response.json
    assert response.status_code == 200, report
    assert report["format"] == format_, report
    return {"format": format_, "seconds": seconds, "cpu": cpu, "load": os.getloadavg()[0],
            "server_cpu": server_cpu, "imported": report["imported"], "failed": report["failed"],
            "bytes": size, "rss_before_mb": before / 1024, "rss_growth_mb": (peak - before) / 1024}


def run_db(db_name: str, url: str, files: dict[str, str], work: str, formats=FORMATS,
           profile: str | None = None) -> list[dict]:
    build_app(url, tempfile.mkdtemp(prefix="data-", dir=work))  # migrated once
    results = []
    for n, format_ in enumerate(formats):
        out = subprocess.run([sys.executable, __file__, "--child", format_, "--file", files[format_], "--url", url,
                              "--data-dir", tempfile.mkdtemp(prefix="data-", dir=work), "--n", str(n)]
                             + (["--profile", f"{profile}.{db_name}"] if profile else []),
                             capture_output=True, text=True)
        if out.returncode:
            sys.stderr.write(out.stderr)
            raise SystemExit(f"the {format_} import failed on {db_name}")
        results.append({"db": db_name, **json.loads(out.stdout.strip().splitlines()[-1])})
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--formats", default=",".join(FORMATS), help="of " + ", ".join(FORMATS))
    parser.add_argument("--profile", metavar="PREFIX",
                        help="cProfile each import's process to PREFIX.<db>.<format>.prof (slows it)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--parse", help=argparse.SUPPRESS)
    args = parser.parse_args()
    for name in ("DATABASE_URL", "REDIS_URL", "APP_ENV"):
        os.environ.pop(name, None)
    if args.child:
        print(json.dumps(child(args.child, args.file, args.url, args.data_dir, args.n, args.profile)))
        return 0
    if args.parse:
        print(json.dumps(naive_parse(args.parse, args.file)))
        return 0

    work = tempfile.TemporaryDirectory(prefix="bench-files-")
    os.environ.setdefault("DATA_DIR", work.name)
    ours = make_csv(args.contacts)
    files = {}
    for format_, data in (("callsync_csv", ours), ("google_csv", make_google(ours)), ("vcard", make_vcard(ours))):
        files[format_] = os.path.join(work.name, format_)
        Path(files[format_]).write_bytes(data)
    print(f"{args.contacts:,} contacts; files: " + ", ".join(
        f"{f} {os.path.getsize(p) / 1e6:.1f} MB" for f, p in files.items()) + f"; {os.cpu_count()} CPUs; "
        f"load average at start {os.getloadavg()[0]:.1f}")
    formats = tuple(args.formats.split(","))
    reference = {}
    for format_ in formats:  # the fixed reference: the best of three naive parses of each file
        runs = [json.loads(subprocess.run([sys.executable, __file__, "--parse", format_, "--file", files[format_]],
                                          capture_output=True, text=True, check=True).stdout) for _ in range(3)]
        reference[format_] = min(runs, key=lambda r: r["seconds"])
        assert reference[format_]["rows"] == args.contacts, reference[format_]
    print("reference (naive stdlib parse, nothing stored): " + ", ".join(
        f"{f} {r['seconds']:.2f} s" for f, r in reference.items()))
    results = []
    for db_name in args.db.split(","):
        if db_name == "sqlite":
            results += run_db(db_name, f"sqlite:///{work.name}/bench.db", files, work.name, formats, args.profile)
        elif db_name == "postgresql":
            from tests.servers import PostgresServer

            server = PostgresServer()
            try:
                results += run_db(db_name, server.url, files, work.name, formats, args.profile)
            finally:
                server.close()
        else:
            parser.error(f"unknown database {db_name}")

    # x parse: the import's time over the fixed reference's (the naive parse of the same
    # file, same run); RSS growth: the import's process's peak resident memory over what
    # it held before the import. cpu s: the import's process and its workers (not the
    # database server); load: the 1-minute load average after the import (other work on
    # the machine slows every figure).
    print(f"{'database':<11}{'format':<14}{'import s':>9}{'parse s':>8}{'x parse':>8}{'cpu s':>7}{'load':>6}"
          f"{'db cpu s':>9}{'contacts/s':>12}{'file MB':>9}{'RSS before MB':>15}{'RSS growth MB':>15}")
    for r in results:
        base = reference[r["format"]]["seconds"]
        assert r["imported"] == args.contacts and r["failed"] == 0, r
        print(f"{r['db']:<11}{r['format']:<14}{r['seconds']:>9.2f}{base:>8.2f}{r['seconds'] / base:>7.1f}x"
              f"{r['cpu']:>7.1f}{r['load']:>6.1f}"
              f"{'-' if r['server_cpu'] is None else format(r['server_cpu'], '.1f'):>9}{r['imported'] / r['seconds']:>12,.0f}{r['bytes'] / 1e6:>9.1f}"
              f"{r['rss_before_mb']:>15.0f}{r['rss_growth_mb']:>15.1f}")
    missed = [f"{r['db']} {r['format']}" for r in results if r["seconds"] > TARGET_S]
    if missed:
        print(f"MISSED the {TARGET_S:.0f} s target on: {', '.join(missed)}")
        return 1
    print(f"all within the {TARGET_S:.0f} s target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
