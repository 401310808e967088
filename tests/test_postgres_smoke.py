from __future__ import annotations

import psycopg


def test_postgres_fixture_serves_a_fresh_database(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
