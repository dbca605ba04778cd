"""The child's or adult's identifying details, kept apart from everything channel-facing.

Only code that shows a case to its entitled parties (a direct message, a form for an entitled
recipient) imports this module. Channel posts, digests and reports never do; a test checks that.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from storage.models import SubjectDetails


def get_subject(case_id: int, *, session: Session) -> SubjectDetails | None:
    return session.get(SubjectDetails, case_id)


def set_subject(case_id: int, *, session: Session, name: str = "", date_of_birth: dt.date | None = None,
                address: str = "", case_number: str = "") -> SubjectDetails:
    row = session.get(SubjectDetails, case_id)
    if row is None:
        row = SubjectDetails(case_id=case_id)
        session.add(row)
    row.name, row.date_of_birth, row.address, row.case_number = name, date_of_birth, address, case_number
    session.flush()
    return row


def ensure_subject(case_id: int, *, session: Session) -> SubjectDetails:
    row = session.get(SubjectDetails, case_id)
    if row is None:
        row = SubjectDetails(case_id=case_id, extra={})
        session.add(row)
        session.flush()
    return row


def set_extra(case_id: int, key: str, value: str, *, session: Session) -> None:
    """Keep one more item of personal data a form asked for (a new dict, so the JSON column sees the change)."""
    row = ensure_subject(case_id, session=session)
    row.extra = {**(row.extra or {}), key: value}
    session.flush()
