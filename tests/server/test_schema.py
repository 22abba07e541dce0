"""Property-based tests of the API against its own OpenAPI schema (Schemathesis): no 5xx, no schema violation."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from policylab.server.schemas import Problem

CHECKS = [schemathesis.checks.not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
EXAMPLES = 12


def test_every_operation_answers_within_its_schema(server):
    api = schemathesis.openapi.from_url(f"{server}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 10
    statuses: list[int] = []
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def answers(case: schemathesis.Case) -> None:
            statuses.append(case.call_and_validate(base_url=server, checks=CHECKS, timeout=60).status_code)

        answers()
    assert len(statuses) >= 3 * len(operations) and 200 in statuses and 422 in statuses


def test_every_error_response_is_documented_as_problem_details(client):
    document = client.get("/openapi.json").json()
    assert document["components"]["schemas"]["Problem"] == Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            errors = {code: r for code, r in operation["responses"].items() if code[0] in "45"}
            assert {"400", "422"} <= set(errors), (method, path)
            for response in errors.values():
                assert list(response["content"]) == ["application/problem+json"], (method, path)
