"""The license lifecycle: which action moves a license from which states to which.

Stored states change only through consent services, each change audited. Two states a
reader sees are derived from dates rather than stored: a countersigned license is
*active* during its term (and *countersigned* before it starts), and one past its end
date is *expired* even before the nightly sweep records it.
"""

from __future__ import annotations

from datetime import date

from dateutil.relativedelta import relativedelta

from core.errors import InvalidTransition
from consent.models import LikenessLicense

S = LikenessLicense.Status

TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "offer": ((S.DRAFT,), S.OFFERED),
    "sign": ((S.OFFERED,), S.SIGNED),
    "countersign": ((S.SIGNED,), S.COUNTERSIGNED),
    "suspend": ((S.COUNTERSIGNED,), S.SUSPENDED),
    "resume": ((S.SUSPENDED,), S.COUNTERSIGNED),
    "revoke": ((S.OFFERED, S.SIGNED, S.COUNTERSIGNED, S.SUSPENDED), S.REVOKED),
    "expire": ((S.COUNTERSIGNED, S.SUSPENDED), S.EXPIRED),
    "expire_viewer": ((S.SIGNED,), S.EXPIRED),  # a viewer's consent is in force once signed
    "supersede": ((S.COUNTERSIGNED, S.SUSPENDED), S.SUPERSEDED),
    "amend": ((S.COUNTERSIGNED, S.SUSPENDED), S.COUNTERSIGNED),  # the amendment is a new draft; this one stays
}

_REFUSALS = {
    "offer": "Only a draft can be offered.",
    "sign": "Only a license offered to the talent can be signed.",
    "countersign": "Only a license the talent signed can be countersigned.",
    "suspend": "Only an executed license can be suspended.",
    "resume": "Only a suspended license can be resumed.",
    "revoke": "This license is not in a state that can be revoked.",
    "expire": "Only an executed license can expire.",
    "expire_viewer": "Only a signed viewer consent can expire.",
    "supersede": "Only an executed license can be superseded.",
    "amend": "Only an executed license can be amended.",
}


def next_status(license: LikenessLicense, action: str) -> str:
    sources, target = TRANSITIONS[action]
    if license.status not in sources:
        raise InvalidTransition(f"{_REFUSALS[action]} This one is {license.get_status_display().lower()}.")
    return target


def effective_state(license: LikenessLicense, today: date) -> str:
    executed = license.in_force_status
    if license.status in (executed, S.SUSPENDED) and today > license.ends_on:
        return S.EXPIRED
    if license.status == executed:
        return "active" if today >= license.starts_on else S.COUNTERSIGNED
    return license.status


def minor_term_cap(*, starts_on: date, birth_date: date) -> date:
    """A minor's license ends by their 18th birthday and at most five years after it starts.

    Years are added by the calendar (relativedelta): from 29 February they land on
    28 February of a common year, so neither bound ever runs a day past its anniversary.
    """
    return min(starts_on + relativedelta(years=5), birth_date + relativedelta(years=18))
