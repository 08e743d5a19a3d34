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


def test_every_index_of_the_models_exists_by_name(clean_app):
    """Expression indexes (the search prefixes) are beyond autogenerate's
    comparison on SQLite: their names at least must all be there, on both."""
    from sqlalchemy import inspect, text

    from server.extensions import db

    with clean_app.app_context(), db.engine.connect() as connection:
        inspector = inspect(connection)
        for table in db.metadata.sorted_tables:
            declared = {index.name for index in table.indexes}
            if connection.dialect.name == "sqlite":  # its reflection skips expression indexes
                present = set(connection.execute(text(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"), {"t": table.name}
                ).scalars())
            else:
                present = {index["name"] for index in inspector.get_indexes(table.name)}
            assert declared <= present, (table.name, declared - present)
