"""The fixed reference of the ringing benchmark (`benchmarks/caller_id.py`):
a bare Flask app that imports nothing from the project and, on the same
request the phone sends, sends the same ringing push with firebase-admin to
the same fake FCM, before it answers.

    BARE_FCM_URL=http://127.0.0.1:PORT/v1/projects/{0}/messages:send BARE_FCM_PROJECT=bench-project \
    BARE_FCM_TOKEN=<the device's FCM token>  gunicorn --config gunicorn.conf.py ... \
        "benchmarks.ringing_bare:create_app()"

POST /calls/ringing {"number": ...} -> 202 {"push_id": ...}: a data message
of the service's shape for a device without a push key (kind, push_id, v,
resolve; Android priority high, TTL 30 s, a collapse key per number, the same
notification) to the one token. No authentication, no look-up, no record, no retry: the floor that
HTTP, gunicorn, Flask and firebase-admin's send cost. firebase-admin as a
minimal app uses it (its defaults; only the URL points at the fake FCM,
through the same private attribute the service sets). Never part of the service.
"""
from __future__ import annotations

import hashlib
import os
import uuid

from flask import Flask, jsonify, request

TTL_S = 30
TITLE, BODY = "Incoming call", "Open CallSync to see who is calling."


def create_app() -> Flask:
    import firebase_admin
    import google.oauth2.credentials
    from firebase_admin import messaging

    project, token = os.environ["BARE_FCM_PROJECT"], os.environ["BARE_FCM_TOKEN"]
    firebase = firebase_admin.initialize_app(google.oauth2.credentials.Credentials(token="bench"),
                                             options={"projectId": project, "httpTimeout": 5}, name="bare-ringing")
    messaging._get_messaging_service(firebase)._fcm_url = os.environ["BARE_FCM_URL"].format(project)
    app = Flask(__name__)

    @app.post("/calls/ringing")
    def ringing():
        number = request.get_json()["number"]
        push_id = str(uuid.uuid4())
        collapse = "ringing-" + hashlib.sha256(number.encode()).hexdigest()[:20]
        messaging.send(messaging.Message(
            token=token, data={"kind": "ringing", "push_id": push_id, "v": "1", "resolve": "GET /api/v1/caller-id"},
            android=messaging.AndroidConfig(priority="high", ttl=TTL_S, collapse_key=collapse,
                                            notification=messaging.AndroidNotification(
                                                title=TITLE, body=BODY, tag=collapse, channel_id="callsync"))),
            app=firebase)
        return jsonify({"push_id": push_id}), 202

    return app
