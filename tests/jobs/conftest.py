"""Markers of the job tests."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "topology: starts the production topology (gunicorn, RQ workers, Redis, PostgreSQL) "
        "on loopback; deselect with -m 'not topology'")
