"""The migrations build exactly the schema the models declare (tables,
columns, indexes, constraints), on each database: a model changed without
its migration, or the other way round, fails here."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext


def test_the_migrated_schema_is_the_models_schema(clean_app):
    from server.extensions import db

    with clean_app.app_context(), db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert differences == []
