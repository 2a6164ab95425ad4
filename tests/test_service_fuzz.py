"""Schemathesis over the service's OpenAPI spec, in process: no 5xx, no anonymous access.

Bounded: a few examples per operation, so the run stays within seconds.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from service_support import make_world  # noqa: E402

#: Routes any caller may use (the policy decides what they get).
OPEN = (
    "/api/login",
    "/api/layers",
    "/api/rasters",
    "/api/features/",
    "/api/tables/",
    "/api/segments/",
    "/api/i18n/",
)


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    # A high login limit: the fuzzer's failed sign-ins must not turn every later one into 429.
    built = make_world(
        f"sqlite:///{folder / 'db.sqlite'}", folder / "run", login_failures_per_address=10_000
    )
    yield built
    built.close()


@pytest.fixture(scope="module")
def operations(fuzz_world):
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_world.app)
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) >= 15
    return found


BOUNDED = settings(
    max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


def fuzz(operation, check) -> None:
    @given(case=operation.as_strategy())
    @BOUNDED
    def run(case):
        check(case)

    run()


def test_anonymous_callers_get_no_5xx_and_nothing_protected(operations):
    def check(case):
        response = case.call()
        assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
        if not case.path.startswith(OPEN):
            assert response.status_code in (401, 403, 404, 405, 422), (case.method, case.path)

    for operation in operations:
        fuzz(operation, check)


def test_signed_in_callers_get_no_5xx(operations, fuzz_world):
    def check(case):
        # Bearer tokens: the fuzzer's requests carry no cookie, so CSRF does not stop them first.
        case.headers = {**(case.headers or {}), **fuzz_world.headers("nature_uzb")}
        response = case.call()
        assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])

    for operation in operations:
        fuzz(operation, check)
