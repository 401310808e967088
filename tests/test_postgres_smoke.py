"""The PostgreSQL fixture of tests/conftest.py serves a fresh database.

This test stays at the top of tests/ on purpose: its subject is the test harness itself (the
``postgres_server`` and ``postgres_url`` fixtures every PostgreSQL test uses, in whichever
package), not a module of src/pacsguard, so it sits beside the conftest.py it checks.
"""

from __future__ import annotations

import psycopg


def test_postgres_fixture_serves_a_fresh_database(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
