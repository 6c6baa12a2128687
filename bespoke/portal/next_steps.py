"""What each person should do next, as their home page says it: one list per user, read
from what they may see (consent and generation selectors, the policy module). Nothing here
changes anything or decides who may do what; it only says what is waiting, for whom.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from consent import policies
from consent import selectors as consent_selectors
from consent.facts import talent_facts
from consent.lifecycle import effective_state
from consent.models import (
    IdentityEvidence,
    IdentityVerification,
    LikenessLicense,
    Membership,
    Representation,
    Talent,
)
from generation.models import RenderJob

# A home page names at most this many licenses per kind of step, then says how many more.
SHOWN_PER_STEP = 5

DESK_REVIEW = ("two verifiers of the platform's verification desk, outside every studio, check it; "
               "you will see their decision here")


@dataclass(frozen=True)
class NextStep:
    """One thing to do (or to wait for): `action` says it, `detail` why or how; `url`, when
    set, is where to do it. `key` names the kind of step (stable, for the page and tests)."""

    key: str
    action: str
    detail: str = ""
    url: str = ""


def uses_to_decide(*, user: Any, jobs: QuerySet[RenderJob]) -> list[RenderJob]:
    """Renders waiting for a use approval that this user decides (the talent, or the verified
    guardian or estate that speaks for them), each with its license."""
    waiting = list(jobs.filter(status=RenderJob.Status.AWAITING_APPROVAL))
    licenses = consent_selectors.licenses_for_user(user=user).select_related("licensee") \
        .in_bulk({job.license_id for job in waiting})
    decided_by_user = {license_id for license_id, license in licenses.items()
                       if policies.refuse_use_decision(user=user, license=license) is None}
    for job in waiting:
        job.license = licenses[job.license_id]
    return [job for job in waiting if job.license_id in decided_by_user]


def next_steps_for_user(*, user: Any, uses_waiting: int = 0) -> list[NextStep]:
    """The user's next steps, most pressing first, for each role they hold. `uses_waiting`
    is how many renders wait for this user's approval (the home page lists them itself)."""
    if not user.is_authenticated:
        return []
    licenses = list(consent_selectors.licenses_for_user(user=user).exclude(status=LikenessLicense.Status.DRAFT)[:200])
    today = timezone.localdate()
    for license in licenses:
        license.state = effective_state(license, today)
    talent = Talent.objects.filter(user_id=user.pk).first()
    roles = set(Membership.objects.filter(user_id=user.pk).values_list("role", flat=True))
    steps: list[NextStep] = []
    if talent is not None and talent.kind == Talent.Kind.PERFORMER:
        steps += _identity_steps(talent)
    steps += _signature_steps(user, licenses)
    if uses_waiting:
        steps.append(NextStep("approve-uses", f"Approve or decline {_count(uses_waiting, 'render')} waiting for you",
                              "each asks to use your likeness in one scene, listed below", "#approvals"))
    steps += _representative_steps(user)
    if Membership.Role.LEGAL in roles:
        steps += _legal_steps(user, licenses)
    if Membership.Role.PRODUCER in roles:
        steps += _producer_steps(user, licenses)
    if policies.is_verifier(user):
        steps += _verifier_steps(user)
    if talent is not None and talent.kind == Talent.Kind.VIEWER:
        steps.append(NextStep("star-in-story", "Star in a story", "choose one below; you consent to each story "
                                                                  "before you play it", "#star"))
    if talent is not None and talent.kind == Talent.Kind.PERFORMER and not steps:
        steps.append(NextStep("talent-idle", "Nothing waits for you now",
                              "when a studio offers you a license, it appears here for you to read and sign"))
    if not steps:
        steps.append(NextStep("nothing", "Nothing waits for you now",
                              "what an organisation invites you to do appears here"))
    return steps


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _identity_steps(talent: Talent) -> list[NextStep]:
    """Verify first; then upload the evidence; then wait for the desk, which is named."""
    if talent_facts(talent_id=talent.pk).verified:
        return []
    url = reverse("portal-my-verification")
    pending = talent.verifications.filter(status=IdentityVerification.Status.PENDING) \
        .order_by("-requested_at").first()
    if pending is None:
        rejected = talent.verifications.filter(status=IdentityVerification.Status.REJECTED).exists()
        return [NextStep("verify-identity", "Ask for a new identity verification" if rejected
                         else "Verify your identity first",
                         "the platform's verification desk checks who you are before a studio can offer you a "
                         "license", url)]
    uploaded = set(pending.evidence.filter(deleted_at__isnull=True).values_list("kind", flat=True))
    missing = [kind for kind in IdentityEvidence.Kind if kind not in uploaded]
    if pending.method == IdentityVerification.Method.DOCUMENT and missing:
        names = " and ".join(kind.label.lower() for kind in missing)
        return [NextStep("upload-evidence", "Upload your identity evidence",
                         f"still to upload: {names}; then {DESK_REVIEW}", url)]
    stage = ("one verifier has approved it and a second, different verifier confirms it next"
             if pending.awaiting_second_approval else DESK_REVIEW)
    return [NextStep("verification-in-review", "Your identity verification is waiting for review by the "
                                               "platform's verification desk", stage, url)]


def _signature_steps(user: Any, licenses: list[LikenessLicense]) -> list[NextStep]:
    """Licenses offered to a talent this user signs for (themself, or as their representative)."""
    to_sign = [license for license in licenses if license.status == LikenessLicense.Status.OFFERED
               and policies.refuse_talent_signature(user=user, license=license,
                                                    side=policies.talent_side(license)) is None]
    return [NextStep("sign-license", f"Read and sign the license for {_name(license)}",
                     f"offered by {license.licensee}" + (f" for {license.talent}" if license.talent.user_id != user.pk
                                                         else ""),
                     reverse("portal-license", args=[license.id])) for license in to_sign[:SHOWN_PER_STEP]] \
        + _more("sign-license", len(to_sign))


def _representative_steps(user: Any) -> list[NextStep]:
    """A representation this user asked to hold, while the desk has not decided it."""
    pending = Representation.objects.filter(representative_id=user.pk, status=Representation.Status.PENDING) \
        .select_related("talent").order_by("requested_at")
    steps = []
    for representation in pending[:SHOWN_PER_STEP]:
        url = reverse("portal-representation", args=[representation.id])
        kind = representation.get_kind_display().lower()
        if not representation.evidence.filter(deleted_at__isnull=True).exists():
            steps.append(NextStep("representation-evidence", f"Upload your evidence as {kind} of "
                                                             f"{representation.talent}",
                                  f"your identity document and what gives you authority; then {DESK_REVIEW}", url))
        else:
            steps.append(NextStep("representation-in-review", f"Your request to act as {kind} of "
                                                              f"{representation.talent} is waiting for review by "
                                                              "the platform's verification desk", DESK_REVIEW, url))
    return steps


def _legal_steps(user: Any, licenses: list[LikenessLicense]) -> list[NextStep]:
    to_countersign = [license for license in licenses if license.status == LikenessLicense.Status.SIGNED
                      and policies.refuse_countersign(user=user, license=license) is None]
    steps = [NextStep("countersign", f"Countersign the license for {_name(license)}",
                      f"{license.talent} signed it; it is in force once you countersign",
                      reverse("portal-license", args=[license.id])) for license in to_countersign[:SHOWN_PER_STEP]]
    steps += _more("countersign", len(to_countersign))
    steps.append(NextStep("draft-license", "Draft a license", "for a talent the verification desk has verified; "
                                                              "offer it for them to sign",
                          reverse("portal-license-draft")))
    steps.append(NextStep("invite", "Invite a talent or a colleague",
                          "a talent creates their account from your link, then verifies their identity",
                          reverse("portal-invitations")))
    return steps


def _producer_steps(user: Any, licenses: list[LikenessLicense]) -> list[NextStep]:
    studios = {str(pk) for pk in policies.studio_organization_ids(user, (Membership.Role.PRODUCER,))
               .values_list("organization_id", flat=True)}
    ours = [license for license in licenses if str(license.licensee_id) in studios
            and license.kind != LikenessLicense.Kind.VIEWER]
    active = [license for license in ours if license.state == "active"]
    steps = [NextStep("request-render", f"Request a render under {_name(license)}",
                      f"your license with {license.talent} is in force",
                      reverse("portal-license", args=[license.id])) for license in active[:SHOWN_PER_STEP]]
    steps += _more("request-render", len(active))
    waiting = {LikenessLicense.Status.OFFERED: "waiting for the talent to sign",
               LikenessLicense.Status.SIGNED: "signed by the talent, waiting for your studio's legal staff to "
                                              "countersign"}
    pending = [license for license in ours if license.status in waiting]
    steps += [NextStep("await-countersign" if license.status == LikenessLicense.Status.SIGNED else "await-signature",
                       f"Wait for the license for {_name(license)}", waiting[license.status],
                       reverse("portal-license", args=[license.id])) for license in pending[:SHOWN_PER_STEP]]
    if not steps:
        steps.append(NextStep("no-license", "No license of your studio is in force yet",
                              "your legal staff draft one, the talent signs it and legal countersigns; then you "
                              "request renders under it here"))
    return steps


def _verifier_steps(user: Any) -> list[NextStep]:
    queue = consent_selectors.desk_queue(user=user)
    waiting = len(queue.verifications) + len(queue.representations)
    if not waiting:
        return [NextStep("desk-empty", "The desk queue is empty", "new identity verifications and representations "
                                                                  "appear here", reverse("portal-desk"))]
    return [NextStep("desk-queue", f"{_count(len(queue.verifications), 'identity verification')} and "
                                   f"{_count(len(queue.representations), 'representation')} waiting in the desk queue",
                     "each needs a first or a second approval, from two different verifiers",
                     reverse("portal-desk"))]


def _name(license: LikenessLicense) -> str:
    return f"{license.project} · {license.role}"


def _more(key: str, total: int) -> list[NextStep]:
    hidden = total - SHOWN_PER_STEP
    return [NextStep(f"{key}-more", f"and {hidden} more", "listed under Licenses below", "#licenses")] \
        if hidden > 0 else []
