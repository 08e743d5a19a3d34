"""The web service. `create_app(config)` builds a Flask app; nothing happens
on import (no connections, no app at module level)."""


def create_app(config: dict | None = None):
    from server.app import build_app

    return build_app(config)
