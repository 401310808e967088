"""Equipment inventory and security advisories (issue #3).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inventory_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "machines",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("machine_key", sa.String(64), nullable=False, unique=True),
        sa.Column("vendor", sa.Text, nullable=False),
        sa.Column("manufacturer", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("serial_number", sa.Text, nullable=False),
        sa.Column("station_name", sa.Text, nullable=False),
        sa.Column("institution", sa.Text, nullable=False),
        sa.Column("modalities", sa.Text, nullable=False),
        sa.Column("software_versions", sa.Text, nullable=False),
        sa.Column("first_seen", sa.String(32), nullable=False),
        sa.Column("last_seen", sa.String(32), nullable=False),
        sa.Column("image_count", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("calling_aet", sa.Text, nullable=False, server_default=""),
        sa.Column("address", sa.Text, nullable=False, server_default=""),
    )
    op.create_table(
        "machine_versions",
        sa.Column("machine_id", sa.Integer, sa.ForeignKey("machines.id"), primary_key=True,
                  autoincrement=False),
        sa.Column("software_versions", sa.Text, primary_key=True),
        sa.Column("first_seen", sa.String(32), nullable=False),
        sa.Column("last_seen", sa.String(32), nullable=False),
        sa.Column("image_count", sa.BigInteger, nullable=False),
        sa.Column("first_leaf", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "machine_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("machine_id", sa.Integer, sa.ForeignKey("machines.id"), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("from_versions", sa.Text, nullable=False),
        sa.Column("to_versions", sa.Text, nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("leaf_index", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_machine_events_machine_id", "machine_events", ["machine_id"])
    op.create_table(
        "advisories",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tracking_id", sa.String(200), nullable=False),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("initial_release_date", sa.String(40), nullable=False),
        sa.Column("current_release_date", sa.String(40), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("publisher", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("document", sa.LargeBinary, nullable=False),
        sa.Column("warnings", sa.Text, nullable=False),
        sa.Column("imported_at", sa.String(32), nullable=False),
        sa.Column("is_current", sa.Boolean, nullable=False),
    )
    op.create_index("ix_advisories_tracking_id", "advisories", ["tracking_id"])
    op.create_table(
        "advisory_products",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("advisory_id", sa.Integer, sa.ForeignKey("advisories.id"), nullable=False),
        sa.Column("product_id", sa.Text, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("vendor_raw", sa.Text, nullable=False),
        sa.Column("vendor", sa.Text, nullable=False),
        sa.Column("product", sa.Text, nullable=False),
        sa.Column("version_text", sa.Text, nullable=True),
        sa.Column("range_status", sa.String(16), nullable=False),
        sa.Column("vers", sa.Text, nullable=True),
        sa.Column("range_reason", sa.Text, nullable=False),
        sa.Column("cves", sa.Text, nullable=False),
        sa.Column("cvss", sa.Float, nullable=True),
        sa.Column("remediations", sa.Text, nullable=False),
    )
    op.create_index("ix_advisory_products_advisory_id", "advisory_products", ["advisory_id"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tracking_id", sa.String(200), nullable=False),
        sa.Column("machine_id", sa.Integer, sa.ForeignKey("machines.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("decided_by", sa.Text, nullable=False),
        sa.Column("decided_at", sa.String(32), nullable=False),
        sa.Column("chain", sa.String(64), nullable=False),
    )
    op.create_index("ix_decisions_tracking_id", "decisions", ["tracking_id"])
    op.create_table(
        "match_seen",
        sa.Column("tracking_id", sa.String(200), primary_key=True),
        sa.Column("machine_id", sa.Integer, sa.ForeignKey("machines.id"), primary_key=True,
                  autoincrement=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("first_seen", sa.String(32), nullable=False),
        sa.Column("status_since", sa.String(32), nullable=False),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("by", sa.Text, nullable=False),
        sa.Column("new_results", sa.Integer, nullable=False),
    )
    op.create_table(
        "machine_register",
        sa.Column("machine_id", sa.Integer, sa.ForeignKey("machines.id"), primary_key=True,
                  autoincrement=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("supplier", sa.Text, nullable=False),
        sa.Column("support_end", sa.String(10), nullable=False),
        sa.Column("operating_system", sa.Text, nullable=False),
        sa.Column("os_end_of_life", sa.String(10), nullable=False),
        sa.Column("network_segment", sa.Text, nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "discoveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("machine_id", sa.Integer, sa.ForeignKey("machines.id"), nullable=True),
        sa.Column("result", sa.Text, nullable=False),
    )
    op.create_table(
        "receipts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("leaf_index", sa.BigInteger, nullable=False),
        sa.Column("calling_aet", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("received_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_receipts_leaf_index", "receipts", ["leaf_index"])


def downgrade() -> None:
    op.drop_table("receipts")
    op.drop_table("discoveries")
    op.drop_table("machine_register")
    op.drop_table("reviews")
    op.drop_table("match_seen")
    op.drop_table("decisions")
    op.drop_table("advisory_products")
    op.drop_table("advisories")
    op.drop_table("machine_events")
    op.drop_table("machine_versions")
    op.drop_table("machines")
    op.drop_table("inventory_state")
