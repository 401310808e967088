"""The ledger's tables (SQLAlchemy Core). Migrations live in ``store/migrations``.

- ``ledger_meta``: settings fixed at ``init`` (origin, header profile, schema notes).
- ``entries``: one row per leaf. ``entry`` holds the canonical bytes hashed into the tree.
  ``sop_instance_uid`` and ``uid_key`` are derived from the entry (re-checked by the
  verifier); ``uid_key`` (the first 8 bytes of SHA-256 of the UID, signed) is what is indexed:
  an 8-byte key keeps the index small, and appends, which touch it at random places, measured
  ~25% faster at 100,000 entries than with the UID string indexed;
  ``path`` and ``clinical_attrs`` are local hints (not part of the leaf).
  ``leaf_hash`` is the entry's RFC 9162 leaf hash, stored so a proof or the verifier can read
  level 0 of the tree without re-hashing, and so a row edited after it was hashed is located
  (NULL only in a damaged ledger; it counts as tampered).
- ``merkle_nodes``: every perfect subtree hash above the leaves, (level, idx) covering leaves
  [idx * 2**level, (idx + 1) * 2**level), level >= 1 (RFC 9162 §2.1.1). Leaf hashes live in
  ``entries.leaf_hash`` (revision 0002): one row per append instead of two measured ~20%
  faster appends.
- ``checkpoints``: every signed checkpoint (C2SP tlog-checkpoint in a signed note).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

metadata = MetaData()

ledger_meta = Table(
    "ledger_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

entries = Table(
    "entries",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("sop_instance_uid", String(64), nullable=False),
    Column("uid_key", BigInteger, nullable=False),
    Column("entry", LargeBinary, nullable=False),
    Column("path", Text, nullable=True),
    Column("clinical_attrs", LargeBinary, nullable=True),
    Column("leaf_hash", LargeBinary(32), nullable=True),
    Index("ix_entries_uid_key", "uid_key"),
)

merkle_nodes = Table(
    "merkle_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
    sqlite_with_rowid=False,
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)

# -- equipment inventory (issue #3; docs/inventory.md) ------------------------------------------

inventory_state = Table(
    "inventory_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

machines = Table(
    "machines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("machine_key", String(64), nullable=False, unique=True),
    Column("vendor", Text, nullable=False),  # canonical vendor (products.vendors)
    Column("manufacturer", Text, nullable=False),  # as the images say
    Column("model", Text, nullable=False),
    Column("serial_number", Text, nullable=False),
    Column("station_name", Text, nullable=False),
    Column("institution", Text, nullable=False),
    Column("modalities", Text, nullable=False),  # backslash-joined, sorted
    Column("software_versions", Text, nullable=False),  # current, backslash-joined as in DICOM
    Column("first_seen", String(32), nullable=False),
    Column("last_seen", String(32), nullable=False),
    Column("image_count", BigInteger, nullable=False),
    Column("source", String(16), nullable=False),  # passive | active | manual
    Column("calling_aet", Text, nullable=False, server_default=""),  # as the gateway saw it
    Column("address", Text, nullable=False, server_default=""),  # the sender's IP address
)

machine_versions = Table(
    "machine_versions",
    metadata,
    Column("machine_id", Integer, ForeignKey("machines.id"), primary_key=True,
           autoincrement=False),
    Column("software_versions", Text, primary_key=True),
    Column("first_seen", String(32), nullable=False),
    Column("last_seen", String(32), nullable=False),
    Column("image_count", BigInteger, nullable=False),
    Column("first_leaf", BigInteger, nullable=False),  # the first entry that showed it
)

machine_events = Table(
    "machine_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("machine_id", Integer, ForeignKey("machines.id"), nullable=False, index=True),
    Column("at", String(32), nullable=False),
    Column("kind", String(32), nullable=False),  # version_change
    Column("from_versions", Text, nullable=False),
    Column("to_versions", Text, nullable=False),
    Column("direction", String(16), nullable=False),  # up | down | unknown
    Column("leaf_index", BigInteger, nullable=True),  # the ledger entry that showed it
)

# -- advisories (issue #3; docs/advisories.md) -------------------------------------------------

advisories = Table(
    "advisories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tracking_id", String(200), nullable=False, index=True),
    Column("revision", String(64), nullable=False),
    Column("initial_release_date", String(40), nullable=False),
    Column("current_release_date", String(40), nullable=False),
    Column("title", Text, nullable=False),
    Column("publisher", Text, nullable=False),
    Column("kind", String(16), nullable=False),  # csaf | alert
    Column("source", Text, nullable=False),  # the file or URL it came from
    Column("sha256", String(64), nullable=False, unique=True),  # of the bytes imported
    Column("document", LargeBinary, nullable=False),  # those bytes, unchanged
    Column("warnings", Text, nullable=False),  # JSON list of strings
    Column("imported_at", String(32), nullable=False),
    Column("is_current", Boolean, nullable=False),  # newest revision of its tracking_id
)

advisory_products = Table(
    "advisory_products",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("advisory_id", Integer, ForeignKey("advisories.id"), nullable=False, index=True),
    Column("product_id", Text, nullable=False),
    Column("status", String(32), nullable=False),  # CSAF product_status key
    Column("vendor_raw", Text, nullable=False),
    Column("vendor", Text, nullable=False),  # canonical
    Column("product", Text, nullable=False),
    Column("version_text", Text, nullable=True),  # the original text, unchanged
    Column("range_status", String(16), nullable=False),  # all | exact | range | review | none
    Column("vers", Text, nullable=True),
    Column("range_reason", Text, nullable=False),
    Column("cves", Text, nullable=False),  # newline-joined
    Column("cvss", Float, nullable=True),  # highest CVSS v3 base score, computed from vectors
    Column("remediations", Text, nullable=False),  # JSON list of {category, details, url}
)

# -- decisions, reviews and the asset register (issue #3) -----------------------------------------

decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tracking_id", String(200), nullable=False, index=True),
    Column("machine_id", Integer, ForeignKey("machines.id"), nullable=False),
    Column("kind", String(32), nullable=False),  # patched | mitigated | accepted_risk | ...
    Column("details", Text, nullable=False),  # JSON object, the kind's fields
    Column("decided_by", Text, nullable=False),
    Column("decided_at", String(32), nullable=False),
    Column("chain", String(64), nullable=False),  # SHA-256(previous chain || canonical row)
)

match_seen = Table(
    "match_seen",
    metadata,
    Column("tracking_id", String(200), primary_key=True),
    Column("machine_id", Integer, ForeignKey("machines.id"), primary_key=True,
           autoincrement=False),
    Column("status", String(32), nullable=False),
    Column("first_seen", String(32), nullable=False),
    Column("status_since", String(32), nullable=False),
)

reviews = Table(
    "reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(32), nullable=False),
    Column("by", Text, nullable=False),
    Column("new_results", Integer, nullable=False),
)

machine_register = Table(
    "machine_register",
    metadata,
    Column("machine_id", Integer, ForeignKey("machines.id"), primary_key=True,
           autoincrement=False),
    Column("location", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("supplier", Text, nullable=False),
    Column("support_end", String(10), nullable=False),  # YYYY-MM-DD or empty
    Column("operating_system", Text, nullable=False),
    Column("os_end_of_life", String(10), nullable=False),  # YYYY-MM-DD or empty
    Column("network_segment", Text, nullable=False),
    Column("notes", Text, nullable=False),
    Column("updated_at", String(32), nullable=False),
)

discoveries = Table(
    "discoveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target", Text, nullable=False),
    Column("address", Text, nullable=False),
    Column("port", Integer, nullable=False),
    Column("at", String(32), nullable=False),
    Column("machine_id", Integer, ForeignKey("machines.id"), nullable=True),
    Column("result", Text, nullable=False),  # JSON: everything the probe saw
)

receipts = Table(
    "receipts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("leaf_index", BigInteger, nullable=False, index=True),  # the entry it recorded
    Column("calling_aet", Text, nullable=False),
    Column("address", Text, nullable=False),
    Column("received_at", String(32), nullable=False),
)
