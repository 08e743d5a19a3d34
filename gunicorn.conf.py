"""gunicorn settings (read by `gunicorn` from the working directory).

Access log: the path without the query string (%(U)s), so numbers looked up
through `/api/v1/caller-id?number=...` never reach a log.
"""
import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 30
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
# gunicorn 27 defaults its control socket to ~/.gunicorn/gunicorn.ctl, shared by
# every gunicorn of the user: keep ours beside the service's own data.
control_socket = os.path.join(os.path.abspath(os.environ.get("DATA_DIR", "instance")), "gunicorn.ctl")


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
