"""One-line mutations of the rules the safety-net tests guard, applied in
memory: `pytest -p tests.safety_net_mutants --mutant NAME <tests>`.

Each mutant rewrites one line of one function's source and swaps the compiled
code into the live function object (`__code__`), so every caller, including
handlers registered in lists, runs the mutant; no file is touched. A safety-net
test must fail under the mutant it names. A mutant whose line no longer
matches the source fails loudly (the rule moved: update the mutant).

    pytest -p tests.safety_net_mutants --mutant revocation_deletes_every_call \\
        tests/api/test_safety_net_consent.py        # must fail
"""
from __future__ import annotations

import importlib
import inspect
import textwrap

import pytest

# name: (module, function or constant, old text, new text)
MUTANTS = {
    # 1. Consent revocation deletes other phones' data.
    "revocation_deletes_every_call": (
        "mobile_sync.ingest_calls", "delete_device_calls",
        "delete(Call).where(Call.device_id == device_id)", "delete(Call)"),
    "revocation_deletes_the_organisations_calls": (
        "mobile_sync.ingest_calls", "delete_device_calls",
        "delete(Call).where(Call.device_id == device_id)",
        "delete(Call).where(Call.organization_id == __import__('sqlalchemy').select(Device.organization_id)"
        ".where(Device.id == device_id).scalar_subquery())"),
    "revocation_deletes_the_users_calls": (
        "mobile_sync.ingest_calls", "delete_device_calls",
        "delete(Call).where(Call.device_id == device_id)",
        "delete(Call).where(Call.user_id == __import__('sqlalchemy').select(Device.user_id)"
        ".where(Device.id == device_id).scalar_subquery())"),
    "revocation_deletes_every_upload": (
        "mobile_sync.ingest_calls", "delete_device_calls",
        "delete(SyncUpload).where(SyncUpload.device_id == device_id, SyncUpload.kind == \"calls\")",
        "delete(SyncUpload).where(SyncUpload.kind == \"calls\")"),
    "revocation_resets_every_cursor": (
        "mobile_sync.ingest_calls", "delete_device_calls",
        "delete(SyncCursor).where(SyncCursor.device_id == device_id, SyncCursor.kind == \"calls\")",
        "delete(SyncCursor).where(SyncCursor.kind == \"calls\")"),
    "revocation_deletes_the_whole_cursor": (
        "mobile_sync.ingest_calls", "delete_device_calls",
        "delete(SyncCursor).where(SyncCursor.device_id == device_id, SyncCursor.kind == \"calls\")",
        "delete(SyncCursor).where(SyncCursor.device_id == device_id)"),
    # 2. Minimum duration, off by one each way.
    "short_call_at_the_threshold": (
        "mobile_sync.lead_rules", "skip_reason",
        "call.duration_s < rules[\"min_duration_s\"]", "call.duration_s <= rules[\"min_duration_s\"]"),
    "short_call_one_below_allowed": (
        "mobile_sync.lead_rules", "skip_reason",
        "call.duration_s < rules[\"min_duration_s\"]", "call.duration_s < rules[\"min_duration_s\"] - 1"),
    # 3. One lead per number when a concurrent run made it first.
    "lead_insert_without_on_conflict": (
        "mobile_sync.lead_rules", "_create_leads",
        "skip_conflicts_on=(\"organization_id\", \"phone\")", "skip_conflicts_on=None"),
    "existing_lead_not_looked_up": (
        "mobile_sync.lead_rules", "_create_leads",
        "} if missing else {}", "} if False else {}"),
    # 4. Personal data logged (numbers and addresses are redacted by the record factory; names are not).
    "lead_names_logged": (
        "mobile_sync.lead_rules", "_create_leads",
        "    missing = [e164 for e164 in firsts if e164 not in created]",
        "    __import__('logging').getLogger(__name__).info('new leads: %s', [r['name'] for r in rows]); "
        "missing = [e164 for e164 in firsts if e164 not in created]"),
    "caller_name_logged": (
        "mobile_sync.caller_id", "caller_context",
        "    return result",
        "    __import__('logging').getLogger(__name__).debug('caller: %s', (result['match'] or {}).get('name')); "
        "return result"),
    "erased_record_logged": (
        "mobile_sync.erasure", "erase_record",
        "    result = ErasureResult(record_type=record_type, record_id=record_id)",
        "    __import__('logging').getLogger(__name__).info('erasing %s', record.name); "
        "result = ErasureResult(record_type=record_type, record_id=record_id)"),
    # 5. Erasure leaves the number's raw forms.
    "unparsed_calls_kept": (
        "mobile_sync.erasure", "_delete_unparsed_calls",
        "doomed = [cid for cid, raw in rows if re.sub(r\"\\D\", \"\", raw).endswith(national)]", "doomed = []"),
    "via_number_kept": (
        "mobile_sync.erasure", "erase_number",
        ".values(via_number=None, via_e164=None)", ".values(via_e164=None)"),
    "spaced_number_not_redacted": (
        "mobile_sync.erasure", "without_number",
        "spans.append((match.start, match.end))", "pass"),
    # 6. Secrets stored in clear, passwords with a weaker argon2.
    "token_stored_in_clear": (  # stored and looked up in clear: every sign-in still works
        "mobile_sync.tokens", "hash_token",
        "return hashlib.sha256(clear.encode(\"utf-8\", \"surrogatepass\")).hexdigest()", "return clear"),
    "password_with_argon2i": (
        "mobile_sync.passwords", "hash_password", "return _hasher.hash(password)",
        "from argon2 import PasswordHasher, Type; "
        "return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.I).hash(password)"),
    "api_key_prefix_is_the_key": (
        "mobile_sync.accounts", "create_api_key", "prefix=clear[:8]", "prefix=clear[:16]"),
    # 7. The disk flush skipped beyond the ringing transaction.
    "ephemeral_commit_for_the_session": (
        "mobile_sync.store.bulk_sql", "_ASYNC_COMMIT",
        "SET LOCAL synchronous_commit TO OFF", "SET synchronous_commit TO OFF"),
}


def pytest_addoption(parser):
    parser.addoption("--mutant", choices=sorted(MUTANTS), help="apply this one-line mutation in memory")


def apply_mutant(name: str) -> None:
    module_name, attr, old, new = MUTANTS[name]
    module = importlib.import_module(module_name)
    target = getattr(module, attr)
    if not callable(target):  # a prebuilt statement: rebuild it from its text
        from sqlalchemy import text

        sql = str(target)
        assert sql.count(old) == 1, f"mutant {name}: {old!r} not found once in {module_name}.{attr}"
        setattr(module, attr, text(sql.replace(old, new)))
        return
    source = textwrap.dedent(inspect.getsource(target))
    assert source.count(old) == 1, f"mutant {name}: {old!r} not found once in {module_name}.{attr}"
    source = source.replace(old, new)
    lines = source.splitlines()
    while lines[0].startswith("@"):  # decorators ran already (a registration); only the body changes
        lines.pop(0)
    namespace = dict(vars(module))
    exec(compile("\n".join(lines), f"<mutant {name}>", "exec"), namespace)
    target.__code__ = namespace[attr].__code__  # runs with the module's globals: name only what it imports


def pytest_configure(config):
    name = config.getoption("--mutant")
    if name:
        apply_mutant(name)


def pytest_report_header(config):
    name = config.getoption("--mutant")
    return f"MUTANT APPLIED: {name} {MUTANTS[name][:2]}" if name else None


@pytest.fixture
def mutant_name(request):
    return request.config.getoption("--mutant")
