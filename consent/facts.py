"""The facts a license rests on, as the verification desk established them.

Identity (legal name, date of birth), death and representation are never typed in by a
studio: they are read here from decisions two verifiers approved. A license's capacity
(adult, minor, deceased) follows from them, and so does who signs for the talent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from dateutil.relativedelta import relativedelta
from django.db.models import Exists, Expression, OuterRef, Q, QuerySet, Subquery

from consent.models import FaceCheck, IdentityVerification, LikenessLicense, Representation, Talent

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


# The names talent_facts_annotations gives its columns, and the TalentFacts field each fills.
_FACT_COLUMNS = {"fact_method": "method", "fact_verified_at": "verified_at", "fact_birth_date": "birth_date",
                 "fact_died_on": "died_on"}


def talent_facts(*, talent_id: object) -> TalentFacts:
    row = (Talent.objects.filter(pk=talent_id).annotate(**talent_facts_annotations("pk"))
           .values(*_FACT_COLUMNS).first())
    return TalentFacts(verified=False) if row is None else talent_facts_from(row)


def talent_facts_annotations(talent: str) -> dict[str, Expression]:
    """The facts of the talent whose id is the outer query's column `talent`, as annotations
    (read with any other row in the same statement); talent_facts_from turns them into TalentFacts.

    Identity comes from the latest approved verification, death from the first approved estate
    representation that records one (an estate's later revocation does not undo the death)."""
    verification = (IdentityVerification.objects
                    .filter(talent_id=OuterRef(talent), status=IdentityVerification.Status.APPROVED)
                    .order_by("-decided_at", "-pk"))
    death = (Representation.objects
             .filter(talent_id=OuterRef(talent), kind=Representation.Kind.ESTATE, talent_died_on__isnull=False,
                     first_approved_by__isnull=False, decided_by__isnull=False,
                     status__in=(Representation.Status.APPROVED, Representation.Status.REVOKED))
             .order_by("decided_at", "pk"))
    return {"fact_method": Subquery(verification.values("method")[:1]),
            "fact_verified_at": Subquery(verification.values("decided_at")[:1]),
            "fact_birth_date": Subquery(verification.values("birth_date")[:1]),
            "fact_died_on": Subquery(death.values("talent_died_on")[:1])}


def talent_facts_from(row: dict[str, object]) -> TalentFacts:
    """TalentFacts from a row read with talent_facts_annotations: verified when an approved
    verification was found (every approved one has a method)."""
    if row["fact_method"] is None:
        return TalentFacts(verified=False)
    return TalentFacts(verified=True, **{field: row[column] for column, field in _FACT_COLUMNS.items()})


def viewer_face_checked(*, talent_id: object) -> bool:
    """A viewer's fact: the platform's face model found their capture and photos show one person."""
    return _passed_face_checks(talent_id).exists()


def viewer_face_checked_annotation(talent: str) -> Exists:
    """viewer_face_checked for the talent whose id is the outer query's column `talent`."""
    return Exists(_passed_face_checks(OuterRef(talent)))


def _passed_face_checks(talent_id: object) -> QuerySet[FaceCheck]:
    return FaceCheck.objects.filter(talent_id=talent_id, status=FaceCheck.Status.PASSED)


def _in_force(on: date) -> Q:
    return (Q(status=Representation.Status.APPROVED, valid_from__lte=on)
            & (Q(valid_until__isnull=True) | Q(valid_until__gte=on)))


def representation_in_force(*, talent_id: object, kind: str, on: date) -> Representation | None:
    """The approved representation of this kind that holds on that day (the latest approved)."""
    return (Representation.objects.filter(_in_force(on), talent_id=talent_id, kind=kind)
            .select_related("representative").order_by("-decided_at").first())


def representation_holds(representation: Representation, *, on: date) -> bool:
    return Representation.objects.filter(_in_force(on), pk=representation.pk).exists()


def representation_holds_annotation(representation: str, *, on: date) -> Exists:
    """representation_holds for the representation whose id is the outer query's column `representation`."""
    return Exists(Representation.objects.filter(_in_force(on), pk=OuterRef(representation)))


def representations_held_by(*, user_id: object, on: date) -> list[Representation]:
    return list(Representation.objects.filter(_in_force(on), representative_id=user_id).select_related("talent"))
