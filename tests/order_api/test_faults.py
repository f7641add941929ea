"""Fault injection: parsing specs into a FaultPlan, and the latency and errors a plan injects."""

from __future__ import annotations

import time
import uuid

import grpc
import pytest

from services.order_api.faults import (
    MAX_LATENCY_SECONDS,
    FaultPlan,
    FaultSpecError,
    MethodFaults,
)
from services.proto.orders.v1 import orders_pb2, orders_pb2_grpc
from tests.support.order_api import StartOrderApi, create_request

# --- Parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "method", "expected"),
    [
        ("latency:GetOrder=300ms", "GetOrder", MethodFaults(latency_seconds=0.3)),
        ("latency:ListOrders=1.5s", "ListOrders", MethodFaults(latency_seconds=1.5)),
        ("latency:GetOrder=0ms", "GetOrder", MethodFaults(latency_seconds=0.0)),
        ("latency:GetOrder=60s", "GetOrder", MethodFaults(latency_seconds=60.0)),
        ("error:CreateOrder=0.05", "CreateOrder", MethodFaults(error_ratio=0.05)),
        ("error:CreateOrder=1", "CreateOrder", MethodFaults(error_ratio=1.0)),
        (
            "error:GetOrder=0.5:UNAVAILABLE",
            "GetOrder",
            MethodFaults(error_ratio=0.5, error_code=grpc.StatusCode.UNAVAILABLE),
        ),
    ],
)
def test_valid_spec_parses(spec: str, method: str, expected: MethodFaults) -> None:
    assert FaultPlan.parse([spec]).by_method == {method: expected}


def test_error_code_defaults_to_internal() -> None:
    plan = FaultPlan.parse(["error:GetOrder=0.1"])

    assert plan.by_method["GetOrder"].error_code is grpc.StatusCode.INTERNAL


@pytest.mark.parametrize(
    "specs",
    [
        ["latency:GetOrder=300ms", "error:GetOrder=0.5:UNAVAILABLE"],
        ["error:GetOrder=0.5:UNAVAILABLE", "latency:GetOrder=300ms"],
    ],
    ids=["latency first", "error first"],
)
def test_latency_and_error_on_one_method_combine(specs: list[str]) -> None:
    plan = FaultPlan.parse(specs)

    assert plan.by_method == {
        "GetOrder": MethodFaults(0.3, 0.5, grpc.StatusCode.UNAVAILABLE),
    }


def test_specs_for_several_methods_are_kept_apart() -> None:
    plan = FaultPlan.parse(["latency:GetOrder=10ms", "error:CreateOrder=0.2"])

    assert plan.by_method == {
        "GetOrder": MethodFaults(latency_seconds=0.01),
        "CreateOrder": MethodFaults(error_ratio=0.2),
    }


def test_blank_specs_are_ignored() -> None:
    assert FaultPlan.parse(["", "  ", " latency:GetOrder=5ms "]).by_method == {
        "GetOrder": MethodFaults(latency_seconds=0.005)
    }


def test_no_specs_is_an_empty_plan() -> None:
    assert FaultPlan.parse([]) == FaultPlan()


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("nonsense", "expected latency:METHOD=300ms or error:METHOD=0.05"),
        ("crash:GetOrder=1", "expected latency:METHOD=300ms or error:METHOD=0.05"),
        ("latency:GetOrder", "expected latency:METHOD=300ms or error:METHOD=0.05"),
        ("latency:GetOrder=", "expected latency:METHOD=300ms or error:METHOD=0.05"),
        ("error:GetOrder=0.5:", "expected latency:METHOD=300ms or error:METHOD=0.05"),
        ("latency:DeleteOrder=1s", "unknown method 'DeleteOrder'"),
        ("latency:getorder=1s", "unknown method 'getorder'"),
        ("latency:GetOrder=300", "latency must look like 300ms or 1.5s"),
        ("latency:GetOrder=-5ms", "latency must look like 300ms or 1.5s"),
        ("latency:GetOrder=1m", "latency must look like 300ms or 1.5s"),
        ("latency:GetOrder=61s", f"latency above {MAX_LATENCY_SECONDS:g}s"),
        ("latency:GetOrder=300ms:UNAVAILABLE", "a latency takes no status code"),
        ("error:GetOrder=abc", "error ratio must be between 0 and 1"),
        ("error:GetOrder=1.5", "error ratio must be between 0 and 1"),
        ("error:GetOrder=-0.1", "error ratio must be between 0 and 1"),
        ("error:GetOrder=nan", "error ratio must be between 0 and 1"),
        ("error:GetOrder=inf", "error ratio must be between 0 and 1"),
        ("error:GetOrder=0.5:NOPE", "unknown gRPC code 'NOPE'"),
        ("error:GetOrder=0.5:unavailable", "unknown gRPC code 'unavailable'"),
        ("error:GetOrder=0.5:OK", "an injected error cannot be OK"),
    ],
)
def test_bad_spec_is_rejected_naming_the_spec_and_the_reason(spec: str, reason: str) -> None:
    with pytest.raises(FaultSpecError) as raised:
        FaultPlan.parse(["latency:GetOrder=5ms", spec])

    message = str(raised.value)
    assert message.startswith(f"bad fault spec {spec!r}: ")
    assert reason in message


# --- Injection ---------------------------------------------------------------------------------


def _get_missing(stub: orders_pb2_grpc.OrderServiceStub) -> grpc.StatusCode:
    """Call GetOrder for an id that does not exist; return the status code it ended with."""
    try:
        stub.GetOrder(orders_pb2.GetOrderRequest(id=uuid.uuid4().hex))
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def test_error_ratio_one_fails_every_call_with_the_code(start_server: StartOrderApi) -> None:
    stub = start_server(faults=FaultPlan.parse(["error:GetOrder=1:UNAVAILABLE"])).stub

    codes = {_get_missing(stub) for _ in range(20)}

    assert codes == {grpc.StatusCode.UNAVAILABLE}


def test_injected_error_says_it_was_injected(start_server: StartOrderApi) -> None:
    stub = start_server(faults=FaultPlan.parse(["error:CreateOrder=1"])).stub

    with pytest.raises(grpc.RpcError) as raised:
        stub.CreateOrder(create_request())

    assert raised.value.code() is grpc.StatusCode.INTERNAL
    assert raised.value.details() == "injected fault on CreateOrder"


def test_injected_error_stores_nothing(start_server: StartOrderApi) -> None:
    order_api = start_server(faults=FaultPlan.parse(["error:CreateOrder=1"]))

    with pytest.raises(grpc.RpcError):
        order_api.stub.CreateOrder(create_request())

    assert order_api.store.count() == 0


def test_error_ratio_zero_fails_no_call(start_server: StartOrderApi) -> None:
    stub = start_server(faults=FaultPlan.parse(["error:GetOrder=0:UNAVAILABLE"])).stub

    codes = {_get_missing(stub) for _ in range(20)}

    assert codes == {grpc.StatusCode.NOT_FOUND}


def test_faults_apply_only_to_their_method(start_server: StartOrderApi) -> None:
    stub = start_server(faults=FaultPlan.parse(["error:CreateOrder=1:UNAVAILABLE"])).stub

    assert _get_missing(stub) is grpc.StatusCode.NOT_FOUND
    stub.ListOrders(orders_pb2.ListOrdersRequest())


def test_latency_delays_the_call_at_least_that_long(start_server: StartOrderApi) -> None:
    stub = start_server(faults=FaultPlan.parse(["latency:GetOrder=200ms"])).stub
    _get_missing(stub)  # connect first, so only the injected latency is timed

    started = time.monotonic()
    code = _get_missing(stub)
    elapsed = time.monotonic() - started

    assert code is grpc.StatusCode.NOT_FOUND
    assert elapsed >= 0.2
