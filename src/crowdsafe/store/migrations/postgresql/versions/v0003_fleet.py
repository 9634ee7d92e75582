"""The fleet's tables (``crowdsafe/cluster/registry.py``): where each camera runs and
how it is, as the controller and the workers last wrote it.

Neither holds anything about the people seen: a camera id, a node id and the worker's
name, times and a frame rate.  PostgreSQL only: a fleet shares one PostgreSQL store.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE camera_placements ("
        " camera_id text PRIMARY KEY,"
        " node_id text NOT NULL,"
        " worker text NOT NULL,"
        " assigned_at double precision NOT NULL,"
        " moves integer NOT NULL DEFAULT 0)"
    )
    op.execute(
        "CREATE TABLE camera_status ("
        " camera_id text PRIMARY KEY,"
        " node_id text NOT NULL,"
        " state text NOT NULL,"
        " analysed_fps double precision NOT NULL,"
        " last_frame_at double precision,"
        " updated_at double precision NOT NULL)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE camera_status")
    op.execute("DROP TABLE camera_placements")
