"""Story pages: a studio's producers and legal staff author interactive stories in Ink, cast
their roles and publish them; the studio's auditors read them. Like every portal view:
scoped through selectors (404 outside the studio), one service per action, each refusal
shown where it belongs (the Ink problems beside the source, the gate's beside the role).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.selectors import audit_events_for_subject
from bespoke.portal.story_forms import VIEWER, RoleCastForm, StoryCreateForm
from consent import gate
from consent import selectors as consent_selectors
from consent.models import LikenessLicense, Organization
from consent.policies import studio_organization_ids
from core.errors import ApplicationError, NotAllowed, ValidationFailed
from stories import policies, selectors, services
from stories.ink import StoryOutline
from stories.models import Story, StoryRole

#: Licenses a role may be cast under: executed ones (the gate judges whether each is in force now).
CASTABLE = (LikenessLicense.Status.COUNTERSIGNED, LikenessLicense.Status.SUSPENDED)


def _author_organizations(user: Any) -> list[Organization]:
    return list(Organization.objects.filter(pk__in=studio_organization_ids(user, policies.AUTHOR_ROLES))
                .order_by("name"))


def _not_found_or(error: NotAllowed) -> None:
    if error.code == "not_found":
        raise Http404(error.message)


def _problem_lines(errors: Any) -> list[dict[str, Any]]:
    """A service's list of problems or refusals, each with its line (or None) and its text."""
    lines = []
    for error in errors or []:
        if not isinstance(error, dict):
            continue
        line = error.get("line")
        message = error.get("message", "")
        if "role" in error:  # a gate refusal: its message already names the scene, its line and the role
            lines.append({"line": line, "text": message})
        else:
            lines.append({"line": line, "text": f"line {line}: {message}" if line else message})
    return lines


# --- the list and a new story -------------------------------------------------------------------

@login_required
@require_GET
def story_list(request: HttpRequest) -> HttpResponse:
    if not policies.story_organization_ids(request.user).exists():
        raise Http404("These pages are for studio members.")
    return render(request, "portal/stories.html", {
        "stories": selectors.stories_for_user(user=request.user).select_related("created_by"),
        "can_author": bool(_author_organizations(request.user)),
    })


@login_required
@require_http_methods(["GET", "POST"])
def story_new(request: HttpRequest) -> HttpResponse:
    """Compile in the browser (or upload Inky's JSON), then create: a story with problems is
    refused, listing each with its source line, and nothing is stored."""
    organizations = _author_organizations(request.user)
    if not organizations:
        raise Http404("Only a studio's producers and legal staff author stories.")
    form = StoryCreateForm(request.POST or None, request.FILES or None,
                           organizations=[(str(o.id), o.name) for o in organizations])
    problems: list[dict[str, Any]] = []
    if request.method == "POST" and form.is_valid():
        organization = next(o for o in organizations if str(o.id) == form.cleaned_data["organization"])
        fields = form.story_fields()
        try:
            story = services.story_create(organization=organization, acting_user=request.user, **fields)
        except ValidationFailed as error:
            if error.errors:
                problems = _problem_lines(error.errors)
                form.add_error(None, "The story cannot be used as it is: nothing was saved. "
                                     "Fix the problems listed beside the source.")
            elif error.field == "compiled_json":
                form.add_error("compiled_file" if form.cleaned_data["compiled_file"] else "ink_source",
                               error.message)
            else:
                form.add_error(error.field if error.field in form.fields else None, error.message)
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"“{story.title}” saved as a draft. Cast its roles, then publish it.")
            return redirect("portal-story", story_id=story.id)
    return render(request, "portal/story_new.html", {
        "form": form, "problems": problems, "several_organizations": len(organizations) > 1,
    }, status=400 if request.method == "POST" else 200)


# --- a story: its outline, its roles, publishing --------------------------------------------------

def _outline(story: Story) -> StoryOutline | None:
    return selectors.story_outline_of(story=story)


def _scenes(outline: StoryOutline | None) -> list[dict[str, Any]]:
    if outline is None:
        return []
    return [{"scene": scene, "next": outline.next_scenes.get(knot, ()), "start": knot == outline.start,
             "ending": knot in outline.endings} for knot, scene in outline.scenes.items()]


def _licenses(story: Story, user: Any) -> list[LikenessLicense]:
    """The licenses the story's studio holds that a role may be cast under (and the caller sees)."""
    return list(consent_selectors.licenses_for_user(user=user)
                .filter(licensee_id=story.organization_id, status__in=CASTABLE).order_by("talent__display_name"))


def _license_label(license: LikenessLicense) -> str:
    use = "interactive use allowed" if license.interactive else "no interactive use"
    return f"{license.talent.display_name}: {license.project} ({license.role}), {use}"


def _published_by(story: Story) -> Any:
    if story.status == Story.Status.DRAFT:
        return None
    event = (audit_events_for_subject(subject=story.audit_subject).filter(action="story.published")
             .order_by("-id").first())
    if event is None or not event.actor.startswith("user:"):
        return None
    return get_user_model().objects.filter(pk=event.actor.removeprefix("user:")).first()


def _story_page(request: HttpRequest, story: Story, *, cast_forms: dict[str, RoleCastForm] | None = None,
                cast_refusals: dict[str, str] | None = None, publish_refusal: str = "",
                publish_problems: list[dict[str, Any]] | None = None, status: int = 200) -> HttpResponse:
    can_author = policies.refuse_author(user=request.user, organization_id=story.organization_id) is None
    draft = story.status == Story.Status.DRAFT
    licenses = _licenses(story, request.user) if can_author and draft else []
    choices = [(str(license.id), _license_label(license)) for license in licenses]
    roles = []
    for role in selectors.story_roles(story=story):
        form = (cast_forms or {}).get(str(role.id))
        if form is None and can_author and draft:
            initial = (VIEWER if role.kind == StoryRole.Kind.VIEWER
                       else str(role.license_id) if role.license_id else "")
            form = RoleCastForm(licenses=choices, initial={"cast": initial}, auto_id=f"id_{role.name}_%s")
        roles.append({"role": role, "form": form, "refusal": (cast_refusals or {}).get(str(role.id), "")})
    outline = _outline(story)
    return render(request, "portal/story.html", {
        "story": story, "outline": outline, "scenes": _scenes(outline), "roles": roles,
        "can_author": can_author, "draft": draft, "licenses": licenses,
        "publish_refusal": publish_refusal, "publish_problems": publish_problems or [],
        "published_by": _published_by(story),
    }, status=status)


@login_required
@require_GET
def story_detail(request: HttpRequest, story_id: str) -> HttpResponse:
    return _story_page(request, selectors.story_get_for_user(user=request.user, story_id=story_id))


@login_required
@require_POST
def story_role_cast(request: HttpRequest, story_id: str, role_id: str) -> HttpResponse:
    story = selectors.story_get_for_user(user=request.user, story_id=story_id)
    role = selectors.story_role_get_for_user(user=request.user, role_id=role_id)
    if role.story_id != story.id:
        raise Http404("No such role.")
    choices = [(str(license.id), _license_label(license)) for license in _licenses(story, request.user)]
    form = RoleCastForm(request.POST, licenses=choices, auto_id=f"id_{role.name}_%s")
    refusal = ""
    if form.is_valid():
        chosen = form.cleaned_data["cast"]
        license = None if chosen == VIEWER else LikenessLicense.objects.get(pk=chosen)
        try:
            services.story_role_cast(role=role, license=license, viewer=license is None, acting_user=request.user)
        except gate.ConsentRefused as error:
            refusal = f"Refused by the consent gate: {error.decision.message}"
        except NotAllowed as error:
            _not_found_or(error)
            refusal = error.message
        except ApplicationError as error:
            refusal = error.message
        else:
            cast_as = "the viewer" if license is None else license.talent.display_name
            messages.success(request, f"Role “{role.name}” cast: {cast_as}.")
            return redirect("portal-story", story_id=story.id)
    story.refresh_from_db()
    return _story_page(request, story, cast_forms={str(role.id): form}, cast_refusals={str(role.id): refusal},
                       status=409 if refusal else 400)


@login_required
@require_POST
def story_publish(request: HttpRequest, story_id: str) -> HttpResponse:
    """Publish, or show every refusal: each uncast scene by its line, each scene the gate refuses."""
    story = selectors.story_get_for_user(user=request.user, story_id=story_id)
    try:
        services.story_publish(story=story, acting_user=request.user)
    except NotAllowed as error:
        _not_found_or(error)
        return _story_page(request, story, publish_refusal=error.message, status=403)
    except ApplicationError as error:
        lead = error.message.split(":", 1)[0] + "." if error.errors else error.message
        story.refresh_from_db()
        return _story_page(request, story, publish_refusal=f"Not published. {lead}",
                           publish_problems=_problem_lines(error.errors), status=409)
    messages.success(request, f"“{story.title}” is published.")
    return redirect("portal-story", story_id=story.id)
