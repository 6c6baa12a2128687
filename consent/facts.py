"""The facts a license rests on, as the verification desk established them.

Identity (legal name, date of birth), death and representation are never typed in by a
studio: they are read here from decisions two verifiers approved. A license's capacity
(adult, minor, deceased) follows from them, and so does who signs for the talent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from dateutil.relativedelta import relativedelta
from django.db.models import Q

from consent.models import FaceCheck, IdentityVerification, LikenessLicense, Representation

ADULT_AGE = 18

Capacity = LikenessLicense.Capacity

# The representation that signs for a talent of each capacity (an adult signs themself).
SIGNING_REPRESENTATION = {Capacity.MINOR: Representation.Kind.GUARDIAN, Capacity.DECEASED: Representation.Kind.ESTATE}


@dataclass(frozen=True)
class TalentFacts:
    verified: bool
    method: str | None = None
    verified_at: datetime | None = None
    birth_date: date | None = None
    died_on: date | None = None

    def capacity_on(self, day: date) -> str | None:
        """Adult, minor or deceased on that day; None while the identity is unverified."""
        if not self.verified or self.birth_date is None:
            return None
        if self.died_on is not None and self.died_on <= day:
            return Capacity.DECEASED
        if self.birth_date + relativedelta(years=ADULT_AGE) > day:
            return Capacity.MINOR
        return Capacity.ADULT


def talent_facts(*, talent_id: object) -> TalentFacts:
    verification = (IdentityVerification.objects
                    .filter(talent_id=talent_id, status=IdentityVerification.Status.APPROVED)
                    .order_by("-decided_at").first())
    if verification is None:
        return TalentFacts(verified=False)
    died_on = (Representation.objects
               .filter(talent_id=talent_id, kind=Representation.Kind.ESTATE, talent_died_on__isnull=False,
                       first_approved_by__isnull=False, decided_by__isnull=False,
                       status__in=(Representation.Status.APPROVED, Representation.Status.REVOKED))
               .order_by("decided_at").values_list("talent_died_on", flat=True).first())
    return TalentFacts(verified=True, method=verification.method, verified_at=verification.decided_at,
                       birth_date=verification.birth_date, died_on=died_on)


def viewer_face_checked(*, talent_id: object) -> bool:
    """A viewer's fact: the platform's face model found their capture and photos show one person."""
    return FaceCheck.objects.filter(talent_id=talent_id, status=FaceCheck.Status.PASSED).exists()


def _in_force(on: date) -> Q:
    return (Q(status=Representation.Status.APPROVED, valid_from__lte=on)
            & (Q(valid_until__isnull=True) | Q(valid_until__gte=on)))


def representation_in_force(*, talent_id: object, kind: str, on: date) -> Representation | None:
    """The approved representation of this kind that holds on that day (the latest approved)."""
    return (Representation.objects.filter(_in_force(on), talent_id=talent_id, kind=kind)
            .select_related("representative").order_by("-decided_at").first())


def representation_holds(representation: Representation, *, on: date) -> bool:
    return Representation.objects.filter(_in_force(on), pk=representation.pk).exists()


def representations_held_by(*, user_id: object, on: date) -> list[Representation]:
    return list(Representation.objects.filter(_in_force(on), representative_id=user_id).select_related("talent"))
