"""infra/kafka/asyncapi.yaml: valid AsyncAPI 3.0.0 (against its published JSON Schema, vendored from
the npm package @asyncapi/specs 6.11.1, Apache-2.0: no network at test time), every reference
resolves, and every topic agrees with topics.yaml and the settings' defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import yaml
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from logstream import schemas
from logstream.kafka import load_topic_specs
from logstream.settings import KafkaSettings

SPEC = Path(__file__).resolve().parents[1] / "vendor" / "asyncapi-3.0.0.schema.json"


def document() -> dict[str, Any]:
    return yaml.safe_load(schemas.asyncapi_text())


def asyncapi_validator() -> Draft7Validator:
    spec = orjson.loads(SPEC.read_bytes())
    # the bundle's definitions are keyed by their own $id: register each as a resource
    registry = Registry().with_resources((key, Resource.from_contents(value, default_specification=DRAFT7))
                                         for key, value in spec["definitions"].items())
    return Draft7Validator(spec, registry=registry)


def test_the_document_is_valid_asyncapi_3() -> None:
    validator = asyncapi_validator()
    errors = sorted(validator.iter_errors(document()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message[:200]}" for e in errors[:5])


def test_the_validator_refuses_a_broken_document() -> None:
    validator = asyncapi_validator()
    for broken in ({**document(), "asyncapi": "2.6.0"},
                   {**document(), "operations": {"x": {"action": "publish", "channel": {"$ref": "#/channels/raw"}}}},
                   {**document(), "channels": {"raw": {"address": "a", "bindings": {"kafka": {"partitions": 0}}}}}):
        assert not validator.is_valid(broken)


def resolve(doc: dict[str, Any], ref: str) -> Any:
    target, _, pointer = ref.partition("#")
    node: Any = schemas.schema(Path(target).stem) if target else doc
    for part in filter(None, pointer.split("/")):
        node = node[part]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for value in node.values() for r in refs(value)]
    return [r for value in node for r in refs(value)] if isinstance(node, list) else []


def test_every_reference_resolves() -> None:
    doc = document()
    found = refs(doc)
    assert len(found) > 10
    for ref in found:
        assert resolve(doc, ref) is not None, ref


def test_every_topic_agrees_with_the_topic_spec_and_settings() -> None:
    settings = KafkaSettings()
    specs = {spec.name: spec for spec in load_topic_specs(settings.topics_spec) if not spec.internal}
    channels = {c["address"]: c for c in document()["channels"].values()}
    assert set(channels) == set(specs) == {settings.raw_topic, settings.actions_topic, settings.dlq_topic,
                                                   settings.erasures_topic}
    for name, spec in specs.items():
        kafka = channels[name]["bindings"]["kafka"]
        assert (kafka["partitions"], kafka["replicas"]) == (spec.partitions, spec.replication_factor), name
        assert kafka["topicConfiguration"]["retention.ms"] == int(spec.config["retention.ms"]), name


def test_every_published_schema_is_a_topic_and_valid_json_schema() -> None:
    from jsonschema import Draft202012Validator

    assert schemas.schema_names() == sorted(
        spec.name for spec in load_topic_specs(KafkaSettings().topics_spec) if not spec.internal)
    for name in schemas.schema_names():
        Draft202012Validator.check_schema(schemas.schema(name))
