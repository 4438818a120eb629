"""Schemathesis against /openapi.json, with the token: every operation, generated
requests both valid and invalid, and every check (no 500s, statuses and bodies as the
document declares them, invalid data refused, valid data accepted)."""

import tempfile

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.config import SchemathesisConfig

from qrun.adapters.memory import MemoryStore
from qrun.bootstrap.config import load
from qrun.bootstrap.http import create_api
from qrun.bootstrap.runtime.clock import FakeClock
from qrun.bootstrap.wiring import bootstrap
from qrun.contract.builders import T0

_dir = tempfile.mkdtemp(prefix="qrun-fuzz-")
_app = bootstrap(
    load(env={}, runs_dir=f"{_dir}/runs", inputs_dir=f"{_dir}/in"), store=MemoryStore(), clock=FakeClock(T0)
)
# 422 is the documented refusal of a request whose shape is valid but whose content a
# rule the schema cannot express refuses (a command payload without argv, a pool nobody
# declared); every such refusal names why, and nothing is stored.
_config = SchemathesisConfig.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "404", "409", "422"]}}}
)
schema = schemathesis.openapi.from_asgi("/openapi.json", create_api(_app, token="fuzz"), config=_config)
AUTH = {"Authorization": "Bearer fuzz"}
ALL = (
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
    checks.positive_data_acceptance,
    checks.missing_required_header,
    checks.unsupported_method,
    checks.ignored_auth,
    checks.use_after_free,
    checks.ensure_resource_availability,
)


@schema.parametrize()
# Derandomized: the same requests every run, so CI never flakes on a rare example;
# change the seed (or drop it) locally to explore further.
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_keeps_its_documented_contract(case):
    case.call_and_validate(headers=AUTH, checks=list(ALL))
