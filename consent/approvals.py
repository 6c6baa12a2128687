"""Per-use approval: when a license asks for it, each use waits for the talent's decision.

Generation asks for an approval when a render is requested and learns the decision from
the service it calls on the talent's behalf; the gate refuses an unapproved use at every
later check, so a use can never slip through while it waits.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from audit.actors import user_actor
from audit.services import audit_append
from core.errors import InvalidTransition, ValidationFailed
from consent import policies
from consent.models import UseApproval


def use_approval_request(*, license_id: str, job_ref: str, prompt: str, params: dict[str, Any],
                         acting_user: AbstractBaseUser) -> UseApproval:
    approval = UseApproval.objects.create(license_id=license_id, job_ref=job_ref, prompt=prompt, params=params,
                                          requested_by=acting_user)
    audit_append(action="use.approval_requested", actor=user_actor(acting_user), subject=f"license:{license_id}",
                 data={"approval": str(approval.id), "job": job_ref})
    return approval


@transaction.atomic
def use_approval_decide(*, job_ref: str, approve: bool, reason: str, acting_user: AbstractBaseUser) -> UseApproval:
    # Only the approval row: the license and talent rows joined for the policy check stay
    # unlocked, since the caller already holds the job row (lock order: license before job).
    approval = UseApproval.objects.select_for_update(of=("self",)).select_related("license__talent").get(
        job_ref=job_ref)
    policies.enforce(policies.refuse_use_decision(user=acting_user, license=approval.license))
    if approval.status != UseApproval.Status.PENDING:
        raise InvalidTransition(f"This use was already {approval.status}.")
    if not approve and not reason.strip():
        raise ValidationFailed("Say why you decline this use.", field="reason")
    approval.status = UseApproval.Status.APPROVED if approve else UseApproval.Status.DECLINED
    approval.decided_by, approval.decided_at, approval.reason = acting_user, timezone.now(), reason.strip()
    approval.save(update_fields=["status", "decided_by", "decided_at", "reason"])
    audit_append(action=f"use.{approval.status}", actor=user_actor(acting_user), subject=f"license:{approval.license_id}",
                 data={"approval": str(approval.id), "job": job_ref})
    return approval
