"""Schemathesis against /api/schema/, in-process and bounded: generated requests (valid and
invalid), one operation at a time and in stateful sequences that follow the links inferred
from the schema (create a license, then offer, sign, amend it...), never get a 5xx, and every
response matches the schema.

The clients are what an integrator runs: an API token, and for a persona with an
authenticator app a current code in X-Bespoke-OTP on every request, so that step-up actions
go through and their code paths are exercised too. Generated object ids are drawn from the
seeded world's as well as at random, so that calls reach real objects in every state.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
import schemathesis
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.stepup import OTP_HEADER
from tests.accounts.conftest import totp_code
from tests.api.test_persona_matrix import build_world

pytestmark = pytest.mark.django_db
EXAMPLES_PER_OPERATION = 5
SCENARIOS_PER_PERSONA = 40
STEPS_PER_SCENARIO = 8
# What the API promises: no server error, and responses (status, content type, headers,
# body) as documented. Cross-field rules (an end after a start) are not in the schema, so
# "schema-valid input must be accepted" is not among them.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
# Known gap, to be closed with the certificate endpoint's own work: its plain-text download
# (?as=text) is not yet documented as text/plain.
UNDOCUMENTED_MEDIA_TYPE = ("GET /api/v1/licenses/{id}/certificate/", "as", "text")
BOUNDED = settings(deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
# A server always names the peer; the in-process WSGI client does not, and without it the
# step-up's code check (rate limited per address) and signature evidence refuse every call.
ENVIRON = {"REMOTE_ADDR": "192.0.2.10"}


class TokenClient:
    """The headers of one persona's API client: its token, and a fresh one-time code if it has an authenticator."""

    def __init__(self, user: Any, totp_secret: str | None) -> None:
        from rest_framework.authtoken.models import Token

        self.token = Token.objects.create(user=user).key
        self.totp_secret = totp_secret

    def headers(self) -> dict[str, str]:
        from django.core.cache import cache

        # A code is good once a period, and allauth counts reauthentications per user: forget
        # both, so that each request of the run is a step-up in its own right.
        cache.clear()
        headers = {"Authorization": f"Token {self.token}"}
        if self.totp_secret:
            headers[OTP_HEADER] = totp_code(self.totp_secret)
        return headers


@contextmanager
def seeded_world() -> Iterator[None]:
    """Calls made from the seeded world, rolled back after them, so that Hypothesis sees the
    same answers when it runs an example again. The block is marked as a TestCase's is, so
    that each request inside it is still a transaction of its own, as in production."""
    block = transaction.atomic()
    block._from_testcase = True
    with block:
        yield
        transaction.set_rollback(True)


@pytest.fixture
def keep_test_connection():  # type: ignore[no-untyped-def]
    """The WSGI app runs in this process and transaction: as Django's own test client does,
    keep the end of each request from closing the test's database connection."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(mfa_personas, keep_test_connection):  # type: ignore[no-untyped-def]
    from django.core.wsgi import get_wsgi_application

    build_world(mfa_personas)  # licenses, verifications, representations, jobs in every state
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    known = _known_ids()

    @schema.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> st.SearchStrategy:
        """Each id is the generated one or one of the seeded objects'."""
        resource = context.operation.path.removeprefix("/api/v1/").split("/")[0]
        choices = {name: [value, *known[resource, name]] for name, value in (path_parameters or {}).items()
                   if known.get((resource, name))}
        if not choices:
            return st.just(path_parameters)
        return st.fixed_dictionaries({name: st.sampled_from(values) for name, values in choices.items()}).map(
            lambda chosen: {**path_parameters, **chosen})

    return schema


def _known_ids() -> dict[tuple[str, str], list[str]]:
    """(resource, path parameter) -> the ids of the seeded objects it may name."""
    from accounts.models import Invitation
    from consent.models import (
        IdentityEvidence,
        IdentityVerification,
        LikenessLicense,
        Representation,
        RepresentationEvidence,
        Talent,
    )
    from generation.models import RenderJob, TrainingJob
    from stories.models import Story, StoryRole

    models = {("talents", "id"): Talent, ("verifications", "id"): IdentityVerification,
              ("verifications", "evidence_id"): IdentityEvidence, ("representations", "id"): Representation,
              ("representations", "evidence_id"): RepresentationEvidence, ("licenses", "id"): LikenessLicense,
              ("renders", "id"): RenderJob, ("trainings", "id"): TrainingJob, ("invitations", "id"): Invitation,
              ("stories", "id"): Story, ("stories", "role_id"): StoryRole}
    return {key: [str(pk) for pk in model.objects.values_list("pk", flat=True)] for key, model in models.items()}


def _checks_for(case: Any) -> list[Any]:
    label, parameter, value = UNDOCUMENTED_MEDIA_TYPE
    if case.operation.label == label and (case.query or {}).get(parameter) == value:
        return [check for check in CHECKS if check is not content_type_conformance]
    return CHECKS


def _client(personas: Any, name: str) -> TokenClient:
    return TokenClient(getattr(personas, name), personas.totp_secrets.get(name))


@pytest.mark.parametrize("persona", ["bob", "alice"])
def test_every_operation_answers_within_its_schema(mfa_personas, api_schema, persona):
    client = _client(mfa_personas, persona)
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 25

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(BOUNDED, max_examples=EXAMPLES_PER_OPERATION)
        def check(case) -> None:  # type: ignore[no-untyped-def]
            with seeded_world():
                case.call_and_validate(headers=client.headers(), checks=_checks_for(case), environ_base=ENVIRON)

        check()


@pytest.mark.parametrize("persona", ["alice", "dana", "frank"])
def test_sequences_of_calls_answer_within_the_schema(mfa_personas, api_schema, persona):
    """The talent, legal staff and a verifier of the desk, each with a token and one-time codes."""
    client = _client(mfa_personas, persona)
    machine = api_schema.as_state_machine()
    assert api_schema.statistic.transitions.total > 0, "the schema's inferred links drive the sequences"

    succeeded: list[str] = []

    class TokenWithOTP(machine):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            self.world = ExitStack()
            self.world.enter_context(seeded_world())

        def teardown(self) -> None:
            self.world.close()
            super().teardown()

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": client.headers(), "environ_base": ENVIRON}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            if case.method == "POST" and response.status_code < 300:
                succeeded.append(case.operation.label)
            case.validate_response(response, checks=_checks_for(case), headers=kwargs.get("headers"))

    TokenWithOTP.run(settings=settings(BOUNDED, max_examples=SCENARIOS_PER_PERSONA,
                                       stateful_step_count=STEPS_PER_SCENARIO))
    assert succeeded, "the sequences changed something: the token, the codes and the seeded ids all work"
