"""What the verification desk established about a talent, and who signs for them, in the
words the portal shows. Read only: the facts come from `consent.facts` and who signs a
license from `consent.policies`; nothing here decides anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


from consent import policies
from consent.facts import talent_facts
from consent.models import LikenessLicense, Representation, Talent

CAPACITY_WORDS = {LikenessLicense.Capacity.ADULT: "a living adult", LikenessLicense.Capacity.MINOR: "a minor",
                  LikenessLicense.Capacity.DECEASED: "deceased"}


@dataclass(frozen=True)
class TalentStanding:
    """A talent as a studio drafting a license sees them: verified or not, their capacity
    today and who would sign for them. Never their date of birth or their evidence."""

    talent: Talent
    verified: bool
    verified_at: datetime | None
    capacity: str | None
    representation: Representation | None
    signer: str

    @property
    def capacity_words(self) -> str:
        return CAPACITY_WORDS.get(self.capacity or "", "not yet verified")


def talent_standing(talent: Talent, *, on: date | None = None) -> TalentStanding:
    side = policies.talent_signer(talent, on=on)
    facts = talent_facts(talent_id=talent.pk)
    if side.capacity is None:
        return TalentStanding(talent, False, None, None, None,
                              "Not verified yet: the platform's verification desk must verify the talent's identity "
                              "before a license can be drafted for them.")
    if side.refusal is not None:
        return TalentStanding(talent, True, facts.verified_at, side.capacity, None,
                              f"{side.refusal} The license can be drafted, but no one can sign it for the talent "
                              "until then.")
    if side.representation is None:
        return TalentStanding(talent, True, facts.verified_at, side.capacity, None, "The talent signs themself.")
    label = side.representation.get_kind_display().lower()
    return TalentStanding(talent, True, facts.verified_at, side.capacity, side.representation,
                          f"The verified {label} on file signs for the talent.")


@dataclass(frozen=True)
class LicenseSigner:
    """The license page's "Who signs for the talent": the policy's answer and the
    representation on file (the one the license was signed under, once signed)."""

    why: str
    representation: Representation | None


def license_signer(license: LikenessLicense, side: policies.TalentSide) -> LicenseSigner:
    return LicenseSigner(side.why, license.signed_under or side.representation)
