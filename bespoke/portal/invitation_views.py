"""Invitation pages: legal staff invite and revoke; the invitee accepts, anonymously, with the link.

Only legal staff see the invitation pages (anyone else gets a 404). A new invitation's
link is shown once, on the page the POST that made it leads to, and emailed to the invitee.
The accept page answers an unknown and an already-used link alike.
"""

from __future__ import annotations

from allauth.account.internal.flows.login import perform_password_login
from allauth.account.models import Login
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors
from accounts.models import Invitation
from consent.models import Organization
from core.stepup import step_up_required
from accounts.invitations import (
    InvitationUnusable,
    invitation_accept as accept,
    invitation_create,
    invitation_for_token,
    invitation_link,
    invitation_revoke as revoke,
    suggested_username,
)
from core.errors import ApplicationError
from bespoke.portal.invitation_forms import AcceptForm, InviteForm


_CREATED_LINK = "portal_invitation_link"


def _legal_organizations(request: HttpRequest) -> QuerySet[Organization]:
    organizations = selectors.legal_organizations(user=request.user)
    if not organizations.exists():
        raise Http404("Invitations are for legal staff.")
    return organizations


@login_required
@require_http_methods(["GET", "POST"])
@step_up_required(scope=_legal_organizations,  # granting a role: a fresh second factor
                  when=lambda request: request.POST.get("kind") == Invitation.Kind.MEMBER)
def invitation_list(request: HttpRequest) -> HttpResponse:
    """The invite form and every invitation of the user's organisations, whatever its state."""
    organizations = _legal_organizations(request)
    form = InviteForm(request.POST or None, organizations=organizations)
    # The new link goes from the POST to the page it redirects to in the session, which forgets it there.
    created_link = request.session.pop(_CREATED_LINK, "") if request.method == "GET" else ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            invitation, token = invitation_create(
                organization=data["organization"], kind=data["kind"], role=data["role"], email=data["email"],
                display_name=data["display_name"], acting_user=request.user)
        except ApplicationError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            request.session[_CREATED_LINK] = invitation_link(token)
            messages.success(request, f"Invitation emailed to {invitation.email}.")
            return redirect("portal-invitations")
    response = render(request, "portal/invitations/list.html", {
        "form": form, "created_link": created_link, "invitations": selectors.invitations_for_user(user=request.user)[:200],
    }, status=400 if form.errors else 200)
    if created_link:
        response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, invitation_id: str) -> HttpResponse:
    invitation = selectors.invitation_get_for_user(user=request.user, invitation_id=invitation_id)
    try:
        revoke(invitation=invitation, acting_user=request.user)
        messages.success(request, f"Invitation to {invitation.email} revoked: its link no longer works.")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("portal-invitations")


def _unusable(request: HttpRequest, refusal: InvitationUnusable) -> HttpResponse:
    # Unknown and used links are both 404; withdrawn and expired ones are 410 (they did exist).
    status = 404 if refusal.code == InvitationUnusable.code else 410
    return render(request, "portal/invitations/unusable.html", {"message": refusal.message}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Open to anyone holding the link: create the account, sign in, then set up MFA."""
    if request.user.is_authenticated:
        return render(request, "portal/invitations/unusable.html", {
            "message": f"You are signed in as {request.user.get_username()}. Sign out, then open the link again "
                       "to create the invited account."}, status=409)
    try:
        invitation = invitation_for_token(token)
    except InvitationUnusable as refusal:
        return _unusable(request, refusal)
    form = AcceptForm(request.POST or None, email=invitation.email,
                      initial={"username": suggested_username(invitation.email)})
    if request.method == "POST" and form.is_valid():
        try:
            user = accept(token=token, username=form.cleaned_data["username"], password=form.cleaned_data["password"])
        except InvitationUnusable as refusal:
            return _unusable(request, refusal)
        except ApplicationError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, "Your account is ready. Set up an authenticator app to protect it.")
            login = Login(user=user, redirect_url=reverse("mfa_activate_totp"))
            return perform_password_login(request, {"username": user.get_username()}, login)
    response = render(request, "portal/invitations/accept.html", {"invitation": invitation, "form": form},
                      status=400 if form.errors else 200)
    # The URL holds the token: never send it to another site. ("no-referrer" would also make
    # browsers post this form with "Origin: null", which the CSRF check rightly refuses.)
    response["Referrer-Policy"] = "same-origin"
    return response
