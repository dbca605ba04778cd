"""Each case's protocol, from the snapshot it was opened under (cached by snapshot id and digest), and a board's
current protocol.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.cases.errors import ServiceError
from bot.core.i18n import translator
from protocol import loader
from protocol.spec import Protocol
from storage import repo
from storage.models import Case, ProtocolSnapshot

# -- protocol and state -----------------------------------------------------------------------
# keyed by the snapshot's id *and* digest: ids are only unique within one database, and a process (the test suite,
# a tool) may open several
_PROTOCOLS: dict[tuple[int, str], Protocol] = {}


def protocol_for_snapshot(snap: ProtocolSnapshot) -> Protocol:
    key = (snap.id, snap.sha256)
    p = _PROTOCOLS.get(key)
    if p is None:
        p = loader.from_snapshot(snap.data)
        _PROTOCOLS[key] = p
    return p


def protocol_for(case: Case, *, session: Session) -> Protocol:
    snap = session.get(ProtocolSnapshot, case.snapshot_id)
    assert snap is not None
    return protocol_for_snapshot(snap)


def board_protocol(board_id: str, *, session: Session) -> Protocol:
    board = repo.get_board(board_id, session=session)
    if board is None:
        T = translator()
        raise ServiceError(T("There is no board called {board}.", board=board_id))
    return protocol_for_snapshot(repo.current_snapshot(board, session=session))
