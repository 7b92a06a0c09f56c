"""The Alembic migrations build exactly the schema the models describe, on every backend."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import models
from models.base import Base
from models.db import current_revision


def test_migrated_schema_matches_the_models(engine):
    assert models.Chat.__tablename__ == "chat"
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        assert compare_metadata(context, Base.metadata) == []
    assert current_revision(engine) == "0010"
