"""Legal staff's pages: drafting from templates, the templates themselves, suspensions and
the audit log. Like every portal view: scoped through selectors (404 outside scope), one
service per action, each refusal shown beside the field it names.
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.text import Truncator
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.actors import user_actor
from audit.models import AuditEvent
from audit.selectors import audit_events_newest_first, audit_events_search
from core.errors import ApplicationError
from bespoke.portal.audit_scope import audit_chain_status, audit_organizations_for_user, organization_audit_subjects
from bespoke.portal.legal_forms import AuditFilterForm, LicenseDraftForm, LicenseTemplateForm, SuspendForm, terms_initial
from bespoke.portal.standing import talent_standing
from bespoke.templatetags.readable import moment_text
from consent import license_templates as templates
from consent import license_terms
from consent import policies
from consent import selectors as consent_selectors
from consent import services as consent
from consent.lifecycle import effective_state
from consent.models import LicenseTemplate, LikenessLicense, Organization

AUDIT_PAGE_SIZE = 50
AUDIT_DATA_SHOWN = 80  # characters of an event's data shown whole; longer data opens from a summary
AUDIT_DATA_SUMMARY = 60


def _legal_organizations(request: HttpRequest) -> list[Organization]:
    organizations = list(policies.legal_organizations(request.user))
    if not organizations:
        raise Http404("These pages are for legal staff.")
    return organizations


def _put_error(form: Form, error: ApplicationError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


# --- drafting -------------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def license_draft(request: HttpRequest) -> HttpResponse:
    """Pick a template and a talent (GET), adjust any term, then draft and optionally offer (POST).

    The talent's capacity and who signs for them are not terms: the verification desk
    established them, and the page only shows what it established."""
    organizations = _legal_organizations(request)
    talents = list(consent_selectors.talents_for_user(user=request.user))
    available = list(templates.license_templates_for_user(user=request.user))
    template: LicenseTemplate | None = None
    if request.GET.get("template"):
        template = templates.license_template_get_for_user(user=request.user, template_id=request.GET["template"])
    choices = {"licensees": [(str(o.id), o.name) for o in organizations],
               "talents": [(str(t.id), t.display_name) for t in talents]}
    if request.method == "POST":
        form = LicenseDraftForm(request.POST, **choices)
        if form.is_valid():
            license = _draft(request, form, organizations, talents)
            if license is not None:
                offered = license.status == LikenessLicense.Status.OFFERED
                messages.success(request, "Drafted and offered to the talent." if offered else
                                 "Drafted. Offer it to the talent when it is ready.")
                return redirect("portal-license", license_id=license.id)
    else:
        initial: dict[str, Any] = {"licensee": str(organizations[0].id), "talent": request.GET.get("talent", "")}
        if template is not None:
            initial.update(terms_initial(templates.draft_terms(template, starts_on=timezone.localdate())),
                           licensee=str(template.organization_id))
        form = LicenseDraftForm(initial=initial, **choices)
    chosen = next((t for t in talents if str(t.id) == str(form["talent"].value() or "")), None)
    return render(request, "portal/license_draft.html", {
        "form": form, "templates": available, "template": template, "talents": talents,
        "several_organizations": len(organizations) > 1,
        "standing": talent_standing(chosen) if chosen is not None else None,
    }, status=400 if form.errors else 200)


def _draft(request: HttpRequest, form: LicenseDraftForm, organizations: list[Organization],
           talents: list[Any]) -> LikenessLicense | None:
    data = form.cleaned_data
    licensee = next(o for o in organizations if str(o.id) == data["licensee"])
    talent = next(t for t in talents if str(t.id) == data["talent"])
    terms = {**form.terms(), "starts_on": data["starts_on"], "ends_on": data["ends_on"]}
    # The form has no field for the desk's facts (capacity, date of birth, who signs); a post
    # that claims one anyway goes to the service as sent, which refuses it and drafts nothing.
    terms.update({name: request.POST[name] for name in license_terms.DESK_FACTS if name in request.POST})
    try:
        with transaction.atomic():  # an offer that fails leaves no draft behind
            license = consent.license_draft(talent=talent, licensee=licensee, acting_user=request.user, **terms)
            if data["offer"]:
                license = consent.license_offer(license=license, acting_user=request.user)
    except ApplicationError as error:
        if error.code == "talent_unverified":
            form.add_error("talent", error.message)
        elif error.field is None and data["offer"]:
            form.add_error("offer", f"Not offered, so not drafted either: {error.message}")
        else:
            _put_error(form, error)
        return None
    return license


# --- templates ------------------------------------------------------------------------------

@login_required
@require_GET
def template_list(request: HttpRequest) -> HttpResponse:
    _legal_organizations(request)
    return render(request, "portal/templates.html", {
        "templates": templates.license_templates_for_user(user=request.user),
        "archived": templates.license_templates_for_user(user=request.user, include_archived=True)
        .filter(archived_at__isnull=False),
    })


@login_required
@require_http_methods(["GET", "POST"])
def template_create(request: HttpRequest) -> HttpResponse:
    organizations = _legal_organizations(request)
    choices = [(str(o.id), o.name) for o in organizations]
    form = LicenseTemplateForm(request.POST or None, organizations=choices,
                               initial={"representation": "none", "compensation_basis": "flat"})
    if request.method == "POST" and form.is_valid():
        organization = next(o for o in organizations if str(o.id) == form.cleaned_data["organization"])
        try:
            template = templates.license_template_create(organization=organization, acting_user=request.user,
                                                         **form.fields_for_service())
        except ApplicationError as error:
            _put_error(form, error)
        else:
            messages.success(request, f"Template “{template.name}” created.")
            return redirect("portal-templates")
    return render(request, "portal/template_form.html", {"form": form, "template": None},
                  status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, template_id: str) -> HttpResponse:
    template = templates.license_template_get_for_user(user=request.user, template_id=template_id)
    initial = terms_initial({name: getattr(template, name)
                             for name in (*templates.TEMPLATE_FIELDS, "name", "description")})
    form = LicenseTemplateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            templates.license_template_update(template=template, changes=form.fields_for_service(),
                                              acting_user=request.user)
        except ApplicationError as error:
            _put_error(form, error)
        else:
            messages.success(request, "Template saved. Licenses drafted from it before keep their terms.")
            return redirect("portal-templates")
    return render(request, "portal/template_form.html", {"form": form, "template": template},
                  status=400 if form.errors else 200)


@login_required
@require_POST
def template_archive(request: HttpRequest, template_id: str) -> HttpResponse:
    template = templates.license_template_get_for_user(user=request.user, template_id=template_id)
    try:
        templates.license_template_archive(template=template, acting_user=request.user)
        messages.success(request, f"Template “{template.name}” archived.")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("portal-templates")


# --- suspensions ----------------------------------------------------------------------------

def suspension_context(*, user: Any, license: LikenessLicense, state: str) -> dict[str, Any]:
    """What the license page shows about suspensions: the history, and the actions legal may take."""
    is_legal = policies.is_licensee_legal(user=user, license_id=license.id)
    return {
        "suspensions": license.suspensions.select_related("suspended_by", "lifted_by").order_by("-suspended_at"),
        "can_suspend": is_legal and license.status == LikenessLicense.Status.COUNTERSIGNED and state != "expired",
        "can_resume": is_legal and license.status == LikenessLicense.Status.SUSPENDED,
    }


def _license_for_legal(request: HttpRequest, license_id: str) -> LikenessLicense:
    license = consent_selectors.license_get_for_user(user=request.user, license_id=license_id)
    if not policies.is_licensee_legal(user=request.user, license_id=license.id):
        raise Http404("No such license.")
    return license


@login_required
@require_http_methods(["GET", "POST"])
def license_suspend(request: HttpRequest, license_id: str) -> HttpResponse:
    """What a suspension does (GET), then one action (POST)."""
    license = _license_for_legal(request, license_id)
    form = SuspendForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            consent.license_suspend(license=license, reason=form.cleaned_data["reason"],
                                    note=form.cleaned_data["note"], acting_user=request.user)
        except ApplicationError as error:
            _put_error(form, error)
        else:
            messages.success(request, "Suspended. No render is made under this license until it is resumed.")
            return redirect("portal-license", license_id=license.id)
    return render(request, "portal/suspend.html", {
        "license": license, "form": form, "state": effective_state(license, timezone.localdate())},
        status=400 if form.errors else 200)


@login_required
@require_POST
def license_resume(request: HttpRequest, license_id: str) -> HttpResponse:
    license = _license_for_legal(request, license_id)
    try:
        consent.license_resume(license=license, acting_user=request.user)
        messages.success(request, "Resumed. Renders are allowed again within the license's terms.")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("portal-license", license_id=license.id)


# --- audit log ------------------------------------------------------------------------------

def _audit_filters(form: AuditFilterForm) -> dict[str, Any] | None:
    """The selector's filters from a valid form; None (with the error on the form) when one names nobody."""
    data = form.cleaned_data
    actor = data["actor"]
    if actor and ":" not in actor:
        user = get_user_model().objects.filter(username=actor).first()
        if user is None:
            form.add_error("actor", "There is no account with that username.")
            return None
        actor = user_actor(user)
    tz = timezone.get_current_timezone()
    return {
        "action": data["action"], "subject": data["subject"], "actor": actor,
        "occurred_from": datetime.combine(data["date_from"], time.min, tz) if data["date_from"] else None,
        "occurred_before": datetime.combine(data["date_to"] + timedelta(days=1), time.min, tz)
        if data["date_to"] else None,
        "seq_from": data["seq_from"], "seq_to": data["seq_to"],
    }


@login_required
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    """The audit events about the reader's organisations' objects, newest first, with the chain's status."""
    organizations = list(audit_organizations_for_user(user=request.user).order_by("name"))
    if not organizations:
        raise Http404("The audit log is for legal staff and auditors.")
    form = AuditFilterForm(request.GET)
    filters = _audit_filters(form) if form.is_valid() else None
    events = AuditEvent.objects.none() if filters is None else \
        audit_events_search(within=organization_audit_subjects(organizations=organizations), **filters)
    page = _AuditLogPaginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    _describe(rows)
    query = urlencode({k: v for k, v in request.GET.items() if k != "page" and v})
    return render(request, "portal/audit_log.html", {
        "form": form, "page": page, "rows": rows, "query": query, "chain": audit_chain_status(),
        "organizations": organizations,
    }, status=400 if form.errors else 200)


class _AuditLogPaginator(Paginator):
    """Counts the events first, then reads the page in the order the count makes fastest."""

    def page(self, number: int | str) -> Page:
        number = self.validate_number(number)
        self.object_list = audit_events_newest_first(self.object_list, matching=self.count,
                                                     through=number * self.per_page)
        return super().page(number)


def _describe(events: list[AuditEvent]) -> None:
    """Give each event on the page its moment as the portal writes it, its data (from the hashed
    body, with a short form when long) and, for a user actor, the username."""
    ids = {event.actor.split(":", 1)[1] for event in events if event.actor.startswith("user:")}
    names = {user_actor(user): user.get_username()
             for user in get_user_model().objects.filter(pk__in=[i for i in ids if i.isdigit()])}
    moments: dict[datetime, str] = {}  # written to the minute: a page's events share a few
    for event in events:
        minute = event.occurred_at.replace(second=0, microsecond=0)
        event.when = moments.get(minute) or moments.setdefault(minute, moment_text(event.occurred_at))
        event.actor_name = names.get(event.actor, "")
        event.data = json.dumps(json.loads(event.body).get("data", {}), sort_keys=True, ensure_ascii=False)
        event.data_summary = (Truncator(event.data).chars(AUDIT_DATA_SUMMARY)
                              if len(event.data) > AUDIT_DATA_SHOWN else "")
