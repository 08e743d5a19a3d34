"""Signed webhooks out (Standard Webhooks): endpoints, the event hook,
payloads built at send time, the SSRF-checked transport and the delivery
state machine. No Flask here: the server's jobs call into it with plain values."""
