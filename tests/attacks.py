"""What an insider with database access does to the ledger, shared by the tests."""

from __future__ import annotations

from sqlalchemy import delete, select

from pacsguard.store.engine import open_engine
from pacsguard.store.schema import checkpoints, entries, merkle_nodes


def roll_back_ledger(database_url: str, keep: int, drop_checkpoints: bool = True) -> None:
    """Delete the newest rows (entries, their tree nodes, and newer checkpoints if asked)."""
    engine = open_engine(database_url)
    with engine.begin() as conn:
        conn.execute(delete(entries).where(entries.c.leaf_index >= keep))
        doomed = [(lv, i) for lv, i in conn.execute(select(merkle_nodes.c.level,
                                                            merkle_nodes.c.idx))
                  if (int(i) + 1) << int(lv) > keep]
        for lv, i in doomed:
            conn.execute(delete(merkle_nodes).where((merkle_nodes.c.level == lv)
                                                    & (merkle_nodes.c.idx == i)))
        if drop_checkpoints:
            conn.execute(delete(checkpoints).where(checkpoints.c.tree_size > keep))
    engine.dispose()
