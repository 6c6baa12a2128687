"""Schemathesis against /api/schema/, in-process and bounded: for every operation, generated
requests (valid and invalid) never get a 5xx, and every response matches the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import make_license

pytestmark = pytest.mark.django_db
EXAMPLES_PER_OPERATION = 10
# What the API promises: no server error, and responses (status, content type, headers,
# body) as documented. Cross-field rules (an end after a start) are not in the schema, so
# "schema-valid input must be accepted" is not among them.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


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


def test_every_operation_answers_within_its_schema(mfa_personas, keep_test_connection):
    from django.core.wsgi import get_wsgi_application
    from rest_framework.authtoken.models import Token

    make_license(mfa_personas)  # something to read, sign and render under
    headers = {"Authorization": f"Token {Token.objects.create(user=mfa_personas.bob).key}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(headers=headers, checks=CHECKS)

        check()
