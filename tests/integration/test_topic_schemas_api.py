"""GET /v1/schemas, /v1/schemas/{name} and /asyncapi.yaml on the query API (the front door forwards
them): the documents as in infra/kafka/, the AsyncAPI document's references pointing at the routes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from logstream import schemas
from query_api.app import create_app
from query_api.settings import QuerySettings
from tests.support import same_shape, success_examples


@pytest.fixture(scope="module")
def client(chdb_dir: Path) -> Iterator[TestClient]:
    settings = QuerySettings(clickhouse_dsn=f"chdb://{chdb_dir}", clickhouse_database="schemas_api")
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def test_the_list_names_every_topic_schema(client: TestClient) -> None:
    response = client.get("/v1/schemas")
    assert response.status_code == 200
    body = response.json()
    assert [s["name"] for s in body["schemas"]] == ["logstream.actions.v1", "logstream.erasures.v1",
                                                    "logstream.logs.dlq.v1", "logstream.logs.raw.v1"]
    operation = client.get("/openapi.json").json()["paths"]["/v1/schemas"]["get"]
    assert same_shape(body, success_examples(operation)["application/json"][0])
    for entry in body["schemas"]:
        one = client.get(entry["url"])
        assert one.status_code == 200 and one.headers["content-type"] == "application/schema+json"
        assert one.json() == schemas.schema(entry["name"]) and one.json()["$id"] == entry["id"]


def test_an_unknown_schema_is_a_404_problem(client: TestClient) -> None:
    response = client.get("/v1/schemas/logstream.logs.raw.v2")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "logstream.logs.raw.v1" in response.json()["detail"]


def test_the_asyncapi_document_refers_to_the_served_schemas(client: TestClient) -> None:
    response = client.get("/asyncapi.yaml")
    assert response.status_code == 200 and response.headers["content-type"] == "application/yaml"
    served = yaml.safe_load(response.text)
    assert served["asyncapi"] == "3.0.0"
    components = served["components"]["schemas"]
    assert components["rawLog"] == {"$ref": "/v1/schemas/logstream.logs.raw.v1"}
    assert components["rawHeaders"] == {"$ref": "/v1/schemas/logstream.logs.raw.v1#/$defs/headers"}
    for component in components.values():
        target, _, pointer = component["$ref"].partition("#")
        node = client.get(target).json()
        for part in filter(None, pointer.split("/")):
            node = node[part]
        assert node


def test_the_openapi_document_lists_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/schemas", "/v1/schemas/{name}", "/asyncapi.yaml"} <= set(paths)
