"""Each case's protocol, from the snapshot it was opened under (cached by snapshot id and digest), and a board's
current protocol.
"""

from __future__ import annotations

import threading

from cachetools import LRUCache, cached
from sqlalchemy.orm import Session

from bot.cases.errors import ServiceError
from bot.core.i18n import translator
from protocol import loader
from protocol.spec import Protocol
from storage import repo
from storage.models import Case

# -- protocol and state -----------------------------------------------------------------------
PROTOCOLS_KEPT = 64  # parsed protocols kept by a process (each board has one current snapshot and a few older ones)


# keyed by the snapshot's id *and* digest: ids are only unique within one database, and a process (the test suite,
# a tool) may open several; a snapshot is never changed, so one seen before is not read or decoded again
@cached(LRUCache(maxsize=PROTOCOLS_KEPT), key=lambda snapshot_id, sha256, session: (snapshot_id, sha256),
        lock=threading.Lock())
def _parsed(snapshot_id: int, sha256: str, session: Session) -> Protocol:
    return loader.from_snapshot(repo.snapshot_data(snapshot_id, session=session))


def protocol_of_snapshot(snapshot_id: int, *, session: Session) -> Protocol:
    """The protocol of snapshot ``snapshot_id``: its digest is looked up (one small query, once a session) and the
    protocol parsed from its JSON only the first time this process meets that id and digest."""
    return _parsed(snapshot_id, repo.snapshot_sha256(snapshot_id, session=session), session)


def protocol_for(case: Case, *, session: Session) -> Protocol:
    return protocol_of_snapshot(case.snapshot_id, session=session)


def board_protocol(board_id: str, *, session: Session) -> Protocol:
    board = repo.get_board(board_id, session=session)
    if board is None:
        T = translator()
        raise ServiceError(T("There is no board called {board}.", board=board_id))
    if board.current_snapshot_id is None:
        raise LookupError(f"board {board.id} has no protocol loaded")
    return protocol_of_snapshot(board.current_snapshot_id, session=session)
