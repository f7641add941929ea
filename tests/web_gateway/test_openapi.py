"""The OpenAPI document: valid, served, and in step with the routes, the limits and the answers."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import jsonschema
import openapi_spec_validator
import pytest
from flask import Flask
from flask.testing import FlaskClient

from otel_stack.harness.running import free_port
from services.orders_contract import (
    DEFAULT_PAGE_SIZE,
    MAX_ID_LENGTH,
    MAX_ITEMS,
    MAX_PAGE_SIZE,
    MAX_QUANTITY,
    MAX_UNIT_PRICE_CENTS,
)
from services.web_gateway.app import MAX_BODY_BYTES
from tests.web_gateway.bodies import MakeGateway, order

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
AUTOMATIC_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The OpenAPI document shipped with the package."""
    text = resources.files("services.web_gateway").joinpath("openapi.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    """A JSON Schema validating against components/schemas/<name>, references resolved."""
    return {"$ref": f"#/components/schemas/{name}", "components": document["components"]}


def test_document_is_valid_openapi(document: dict[str, Any]) -> None:
    # A dev dependency: a missing validator fails here instead of skipping silently.
    openapi_spec_validator.validate(document)


def test_documented_operations_are_exactly_the_apps_routes(
    make_gateway: MakeGateway, document: dict[str, Any]
) -> None:
    app: Flask = make_gateway(f"127.0.0.1:{free_port()}").application
    routed = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in (rule.methods or set()) - AUTOMATIC_METHODS
    }
    documented = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }

    assert routed == documented


def test_documented_limits_are_the_order_apis(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    item = schemas["Item"]["properties"]
    list_parameters = {p["name"]: p for p in document["paths"]["/orders"]["get"]["parameters"]}

    assert schemas["CreateOrderRequest"]["properties"]["items"]["maxItems"] == MAX_ITEMS
    assert schemas["CreateOrderRequest"]["properties"]["customer_id"]["maxLength"] == MAX_ID_LENGTH
    assert item["sku"]["maxLength"] == MAX_ID_LENGTH
    assert item["quantity"]["maximum"] == MAX_QUANTITY
    assert item["unit_price_cents"]["maximum"] == MAX_UNIT_PRICE_CENTS
    assert list_parameters["page_size"]["schema"]["maximum"] == MAX_PAGE_SIZE
    assert list_parameters["page_size"]["schema"]["default"] == DEFAULT_PAGE_SIZE
    assert str(MAX_BODY_BYTES) in document["info"]["description"]


def test_document_is_served(http: FlaskClient, document: dict[str, Any]) -> None:
    response = http.get("/openapi.json")

    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert response.get_json() == document


def test_created_order_matches_the_order_schema(
    http: FlaskClient, document: dict[str, Any]
) -> None:
    created = http.post("/orders", json=order()).get_json()

    jsonschema.validate(created, schema(document, "Order"))


def test_error_answer_matches_the_error_schema(http: FlaskClient, document: dict[str, Any]) -> None:
    answer = http.post("/orders", json=order(items=[])).get_json()

    jsonschema.validate(answer, schema(document, "Error"))


def test_valid_request_matches_the_create_order_request_schema(document: dict[str, Any]) -> None:
    jsonschema.validate(order(), schema(document, "CreateOrderRequest"))
