"""Security in the database: default policy rows, append-only tables, PostGIS geometry and RLS.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from crossings.service.policy import DEFAULT_POLICY

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

APPEND_ONLY = ("audit_log", "proposal_events")
# Tables whose rows row-level security filters on PostgreSQL, with the layer name the policy uses.
FILTERED = {
    "features": "(SELECT name FROM layers WHERE layers.id = layer_id)",
    "proposals": "'proposals'",
    "field_reports": "'field_reports'",
}

VISIBLE_FUNCTION = """
CREATE OR REPLACE FUNCTION crossings_visible(p_layer text, p_level text, p_country text)
RETURNS boolean LANGUAGE sql STABLE AS $$
  WITH g AS (
    SELECT split_part(x, ':', 1) AS role, split_part(x, ':', 2) AS country
    FROM unnest(string_to_array(coalesce(current_setting('crossings.grants', true), ''), ','))
         AS x
    WHERE x <> ''
    UNION ALL SELECT 'public', ''
  )
  SELECT coalesce(current_setting('crossings.grants', true), '') = '*system*' OR EXISTS (
    SELECT 1 FROM g CROSS JOIN LATERAL (
      SELECT in_country, elsewhere FROM policy p
      WHERE p.sensitivity = p_level AND p.role = g.role AND p.layer IN (p_layer, '*')
      ORDER BY (p.layer = '*') LIMIT 1
    ) r
    WHERE CASE WHEN g.country <> '' AND g.country = ANY(string_to_array(p_country, '-'))
               THEN r.in_country ELSE r.elsewhere END <> 'withheld'
  )
$$
"""


def upgrade() -> None:
    policy = sa.table(
        "policy",
        sa.column("layer", sa.String),
        sa.column("sensitivity", sa.String),
        sa.column("role", sa.String),
        sa.column("in_country", sa.String),
        sa.column("elsewhere", sa.String),
        sa.column("grid_km", sa.Float),
    )
    op.bulk_insert(
        policy,
        [
            dict(layer=layer, sensitivity=level, role=role, in_country=i, elsewhere=e, grid_km=km)
            for (layer, level, role), (i, e, km) in DEFAULT_POLICY.items()
        ],
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgres()
    else:
        _sqlite()


def _sqlite() -> None:
    for table in APPEND_ONLY:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def _postgres() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute(
        "CREATE OR REPLACE FUNCTION crossings_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION crossings_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION crossings_append_only()"
        )
    # A real geometry beside the WKB, for spatial SQL, ST_AsMVT and GIS clients.
    for table in ("features", "proposals"):
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN geom geometry(Geometry, 4326) "
            "GENERATED ALWAYS AS (ST_SetSRID(ST_GeomFromWKB(wkb), 4326)) STORED"
        )
        op.execute(f"CREATE INDEX {table}_geom_idx ON {table} USING gist (geom)")
    op.execute(VISIBLE_FUNCTION)
    for table, layer in FILTERED.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_read ON {table} FOR SELECT "
            f"USING (crossings_visible({layer}, sensitivity, country))"
        )
        for verb in ("INSERT", "UPDATE", "DELETE"):
            clause = "WITH CHECK (true)" if verb == "INSERT" else "USING (true)"
            op.execute(f"CREATE POLICY {table}_{verb.lower()} ON {table} FOR {verb} {clause}")


def downgrade() -> None:
    raise NotImplementedError("the security migration is not reversible")
