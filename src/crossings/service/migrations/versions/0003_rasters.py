"""Published rasters (current and difference maps), filtered by row-level security on PostgreSQL.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rasters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("sensitivity", sa.String(length=16), nullable=False),
        sa.Column("country", sa.String(length=64), nullable=False),
        sa.Column("source_run", sa.Text(), nullable=False),
        sa.Column("crs", sa.Text(), nullable=False),
        sa.Column("transform", sa.JSON(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("vmin", sa.Float(), nullable=False),
        sa.Column("vmax", sa.Float(), nullable=False),
        sa.Column("bounds", sa.JSON(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE rasters ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE rasters FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY rasters_read ON rasters FOR SELECT "
        "USING (crossings_visible(name, sensitivity, country))"
    )
    for verb in ("INSERT", "UPDATE", "DELETE"):
        clause = "WITH CHECK (true)" if verb == "INSERT" else "USING (true)"
        op.execute(f"CREATE POLICY rasters_{verb.lower()} ON rasters FOR {verb} {clause}")


def downgrade() -> None:
    op.drop_table("rasters")
