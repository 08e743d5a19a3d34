"""gunicorn settings (read by `gunicorn` from the working directory).

Access log: the path without the query string (%(U)s), so numbers looked up
through `/api/v1/caller-id?number=...` never reach a log.
"""
import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))

# Production sits behind nginx (deploy/nginx.conf). nginx hands gunicorn only
# whole requests and takes whole answers, so no thread here waits on a slow
# client; gunicorn itself has no deadline for a request's headers. These
# limits bound what reaches gunicorn all the same.
timeout = 30  # a worker whose main loop is silent this long is killed and replaced
graceful_timeout = 30  # on stop, for the requests in flight and worker_exit (up to 5 s) together
keepalive = 5  # nginx's idle connections; nginx drops them after 4 s, before gunicorn does
# A request line and a header line of up to 8 KB, as nginx (large_client_header_buffers
# 4 8k): what nginx lets through, gunicorn takes. At most 100 header lines.
limit_request_line = 8190
limit_request_field_size = 8190
limit_request_fields = 100

accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
# gunicorn 27 defaults its control socket to ~/.gunicorn/gunicorn.ctl, shared by
# every gunicorn of the user: keep ours beside the service's own data.
control_socket = os.path.join(os.path.abspath(os.environ.get("DATA_DIR", "instance")), "gunicorn.ctl")


# An answer given before the body was read (a 401 to a phone whose token was
# revoked, in the middle of an upload) leaves the body unread. gunicorn reads
# and drops at most 64 KB of it, then closes, and closing on unread bytes
# resets the connection: nginx, still sending the body, then answered 502
# instead of the app's 401 (3 of 10 uploads of 1 MB). Behind nginx the whole
# body is there already and comes at loopback speed, so drop up to the largest
# body nginx lets through (the CSV import's 64 MB); the drain's 5 s deadline
# still bounds the time. gunicorn 27 has no setting for it, only this constant
# (tests/e2e/test_slow_clients.py fails when it stops working).
from gunicorn.http import parser as _http_parser  # noqa: E402

if hasattr(_http_parser, "_DRAIN_MAX_BYTES"):
    _http_parser._DRAIN_MAX_BYTES = 64 * 1024 * 1024


def child_exit(server, worker):
    """Forget a dead worker's metrics (prometheus_client multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """The app is loaded: settle the garbage collector (server/garbage_collection.py)."""
    from server.garbage_collection import settle_long_lived_process

    settle_long_lived_process()


def worker_exit(server, worker):
    """Let the push dispatcher finish what is due and hand the rest to RQ;
    write the access events still buffered."""
    from server.audit import close_writers
    from server.push_dispatch import close_dispatchers

    close_dispatchers(timeout=3.0)
    close_writers(timeout=2.0)
