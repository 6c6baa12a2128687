"""Decrypted evidence as a file, for the portal and the API alike.

The scope (which verification or representation, which evidence) is the caller's, through
the selectors; opening is the desk's (its policy decides who may, and each viewing is
audited); the answer is `core.downloads.file_response`: never sniffed, never stored, an
attachment unless the portal shows it in a tab of its own (`inline`: the file is Bespoke's
own re-encoding of the upload, so the browser shows only what Bespoke wrote). A refusal
raises the desk's ApplicationError.
"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpResponse

from core.downloads import file_response
from consent import desk
from consent.models import IdentityEvidence, RepresentationEvidence


def identity_evidence_download(*, evidence: IdentityEvidence, acting_user: AbstractBaseUser,
                               inline: bool = False) -> HttpResponse:
    content = desk.identity_evidence_open(evidence=evidence, acting_user=acting_user)
    return _evidence_response(content, evidence, inline=inline)


def representation_evidence_download(*, evidence: RepresentationEvidence, acting_user: AbstractBaseUser,
                                     inline: bool = False) -> HttpResponse:
    content = desk.representation_evidence_open(evidence=evidence, acting_user=acting_user)
    return _evidence_response(content, evidence, inline=inline)


def _evidence_response(content: bytes, evidence: IdentityEvidence | RepresentationEvidence, *,
                       inline: bool) -> HttpResponse:
    return file_response(content, filename=f"{evidence.kind}-{evidence.id}", content_type=evidence.media_type,
                         inline=inline, no_store=True)
