"""The production topology's own logs carry no client data: gunicorn (its
access log and the app's records) and the RQ worker, at DEBUG, after a rep's
day went through them: sign-up, a phone book and a call log uploaded and
processed by the worker, caller ID by number in the query string, ringing
with pushes through firebase-admin to a fake FCM, a CSV import and an
erasure. Everything the processes wrote is searched, for names as well as
numbers (in the forms a URL or a log would hold them) and addresses.
"""
from __future__ import annotations

import urllib.parse
import urllib.request

import pytest

from scripts.simulate_phone import Client, give_consent, register_device, sign_in
from tests.phone_data import call_row, contact_row
from tests.polling import wait_until
from tests.topology import Topology

pytestmark = [pytest.mark.topology, pytest.mark.timeout(150)]

ADMIN, ADMIN_EMAIL = "Winifred Achterberg-Mensah", "winifred@achterberg.test"
CUSTOMER, COMPANY = "Leopold Vandersloot", "Vandersloot Cold Chain"
CUSTOMER_PHONE = "+91 98123 45678"
AUNTIE, AUNTIE_PHONE = "Henrietta Okonkwo-Lindqvist", "097000 11122"
CALLER, CALLER_PHONE = "Cornelius Wigglesworth", "+91 96111 22233"
IMPORTED, IMPORTED_EMAIL, IMPORTED_PHONE = "Octavia Rosenquist-Abara", "octavia@rosenquist.test", "+91 93456 78901"
NOTE = "Prefers delivery before the monsoon"
FCM_TOKEN = "fcm-achterberg-handset-token"

NUMBER_FORMS = [form for phone in (CUSTOMER_PHONE, AUNTIE_PHONE, CALLER_PHONE, IMPORTED_PHONE)
                for digits in ["".join(c for c in phone if c.isdigit())[-10:]]
                for form in (digits, f"{digits[:5]} {digits[5:]}", f"{digits[:5]}+{digits[5:]}",
                             f"{digits[:5]}%20{digits[5:]}")]
PERSONAL = [ADMIN, "Achterberg", ADMIN_EMAIL, "winifred%40", CUSTOMER, "Vandersloot", COMPANY, AUNTIE, "Okonkwo",
            "Lindqvist", CALLER, "Wigglesworth", IMPORTED, "Rosenquist", IMPORTED_EMAIL, NOTE, "monsoon",
            FCM_TOKEN] + NUMBER_FORMS


@pytest.fixture(scope="module")
def topo(fake_fcm_server):
    fake_fcm_server.reset()
    env = {"FCM_CREDENTIALS": "token:test-token", "FCM_PROJECT_ID": fake_fcm_server.project,
           "FCM_URL": fake_fcm_server.url}
    with Topology(web_workers=1, web_threads=4, rq_workers=1, log_level="DEBUG", env=env) as topology:
        yield topology


def send_csv(base_url: str, token: str, data: bytes) -> int:
    request = urllib.request.Request(f"{base_url}/api/v1/contacts/import", data=data, method="POST",
                                     headers={"Content-Type": "text/csv", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def test_gunicorn_and_rq_worker_logs_hold_no_client_data(topo, fake_fcm_server):
    client = Client(topo.base_url, timeout=30, attempts=1)
    phone = sign_in(client, email=ADMIN_EMAIL, password="Topology-Privacy-6021", organization="Achterberg Foods",
                    region="IN", name=ADMIN)
    register_device(phone)
    client.request("PATCH", f"/api/v1/devices/{phone.device_id}", {"fcm_token": FCM_TOKEN}, token=phone.device_token)
    give_consent(phone)
    admin = phone.user_token
    client.request("PATCH", "/api/v1/settings", {"keep_phone_contacts": True}, token=admin)
    _, customer = client.request("POST", "/api/v1/contacts", {"name": CUSTOMER, "company": COMPANY,
                                                             "phones": [CUSTOMER_PHONE]}, token=admin)
    client.request("POST", f"/api/v1/records/contact/{customer['id']}/notes", {"text": NOTE}, token=admin)
    client.request("POST", "/api/v1/sync/contacts", {"batch_id": "pb", "contacts": [
        contact_row(1, AUNTIE, AUNTIE_PHONE)]}, token=phone.device_token)
    client.request("POST", "/api/v1/sync/calls", {"batch_id": "c1", "calls": [
        call_row(1, CUSTOMER_PHONE, name=CUSTOMER), call_row(2, AUNTIE_PHONE, name=AUNTIE),
        call_row(3, CALLER_PHONE, name=CALLER)]}, token=phone.device_token)
    leads = wait_until(lambda: client.request("GET", "/api/v1/leads", token=admin)[1]["items"], timeout=30.0,
                       what="the RQ worker to make the lead")
    assert [lead["name"] for lead in leads] == [CALLER]
    for number in (CUSTOMER_PHONE, CALLER_PHONE):
        query = urllib.parse.urlencode({"number": number})
        client.request("GET", f"/api/v1/caller-id?{query}", token=admin)
        client.request("POST", "/api/v1/calls/ringing", {"number": number}, token=phone.device_token)
    wait_until(lambda: len(fake_fcm_server.requests) >= 3, timeout=30.0,
               what="the new-lead and ringing pushes at the fake FCM")
    assert send_csv(topo.base_url, admin, (f"name,company,email,source,phones\n"
                                           f"{IMPORTED},,{IMPORTED_EMAIL},expo,{IMPORTED_PHONE}\n").encode()) == 200
    client.request("POST", "/api/v1/erasure", {"record_type": "contact", "record_id": customer["id"]}, token=admin)
    client.request("POST", "/api/v1/erasure", {"phone": CALLER_PHONE}, token=admin)

    logs = {proc.name: proc.log_path.read_text(errors="replace") for proc in [topo.web, *topo.workers]}
    # The capture works: gunicorn's access log, the app's DEBUG records and the worker's jobs are there.
    assert "GET /api/v1/caller-id" in logs["web"], logs["web"][-2000:]
    worker_log = "\n".join(text for name, text in logs.items() if name != "web")
    assert "calls processed" in worker_log, worker_log[-2000:]
    secrets = [phone.user_token, phone.device_token]
    leaks = [f"{name}: {value!r} in {line[:200]!r}" for name, text in logs.items() for line in text.splitlines()
             for value in PERSONAL + secrets if value.lower() in line.lower()]
    assert not leaks, "\n".join(leaks)
