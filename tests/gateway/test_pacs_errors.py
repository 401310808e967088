"""``verify --pacs`` stops with a reason a caller can read, not only a message, when the PACS
cannot be reached (gateway/pacs.py)."""

from __future__ import annotations

import pytest

from pacsguard.errors import PacsError, PacsFailure
from pacsguard.gateway.config import Destination
from pacsguard.gateway.pacs import PacsAssociation
from tests.peers import free_port


def test_a_pacs_that_does_not_answer_is_refused_with_its_reason() -> None:
    port = free_port()  # nothing listens there
    dest = Destination(name="pacs", ae_title="PACS", host="127.0.0.1", port=port,
                       allow_plain_tcp=True, timeout_seconds=5)
    with pytest.raises(PacsError) as caught:
        PacsAssociation(dest, "PACSGUARD", [])
    assert caught.value.reason is PacsFailure.REFUSED
    assert f"PACS pacs (PACS@127.0.0.1:{port}) refused or did not answer" in str(caught.value)
