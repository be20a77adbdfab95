"""The graphql-http conformance audit, run by Node against a real `contentgraph serve`.

graphql-http (the GraphQL-over-HTTP spec's reference implementation) ships an audit of the
spec's server requirements; tests/js/audit.mjs runs it and prints the results. Every MUST has to
pass. SHOULD and MAY failures must be exactly the allow-lists below - each entry a deliberate,
explained difference - so a regression and a newly passing audit are both noticed.

Node and npm are optional on a laptop (the test skips) and required in CI, where
``CONTENTGRAPH_REQUIRE_NODE=1`` turns their absence into a failure.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.node import JS_DIR, node

#: SHOULD audits we knowingly fail, by audit id, with the one-line reason we differ.
SHOULD_ALLOWED_TO_FAIL: dict[str, str] = {}

#: MAY audits we knowingly fail. Today we implement every one, so a notice means a regression.
MAY_ALLOWED_TO_FAIL: dict[str, str] = {}

AuditResult = dict[str, Any]


@pytest.fixture(scope="module")
def audit(request: pytest.FixtureRequest) -> list[AuditResult]:
    binary = node()
    live_server: str = request.getfixturevalue("live_server")  # only once Node is known to work
    completed = subprocess.run(
        [binary, "audit.mjs", f"{live_server}/graphql"],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, f"audit.mjs failed:\n{completed.stderr}"
    results: list[AuditResult] = json.loads(completed.stdout)
    ids = [result["id"] for result in results]
    assert len(ids) > 50 and len(set(ids)) == len(ids), ids
    return results


def _failures(results: list[AuditResult], requirement: str) -> dict[str, AuditResult]:
    return {
        result["id"]: result
        for result in results
        if result["requirement"] == requirement and result["status"] != "ok"
    }


def _describe(failures: dict[str, AuditResult]) -> str:
    return "\n".join(
        f"{result['id']} {result['name']}: {result['reason']} (got {result.get('response')})"
        for result in failures.values()
    )


def test_every_must_audit_passes(audit: list[AuditResult]) -> None:
    failures = _failures(audit, "MUST")
    assert not failures, "failed MUST audits:\n" + _describe(failures)


@pytest.mark.parametrize(
    ("requirement", "allowed"),
    [("SHOULD", SHOULD_ALLOWED_TO_FAIL), ("MAY", MAY_ALLOWED_TO_FAIL)],
    ids=["SHOULD", "MAY"],
)
def test_optional_audit_failures_are_exactly_the_allow_list(
    audit: list[AuditResult], requirement: str, allowed: dict[str, str]
) -> None:
    failures = _failures(audit, requirement)
    unexpected = {key: result for key, result in failures.items() if key not in allowed}
    assert not unexpected, f"{requirement} audits newly failing:\n" + _describe(unexpected)
    now_passing = sorted(set(allowed) - set(failures))
    assert not now_passing, f"allow-listed {requirement} audits now pass, drop: {now_passing}"
