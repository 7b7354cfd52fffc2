"""schema.json: a valid draft 2020-12 schema, in step with the code and with docs/events.md."""

from __future__ import annotations

import copy
import inspect
import json
import os
import re
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tbgpool.events import EVENT_TYPES, payloads
from tbgpool.events.envelope import encode_event
from tbgpool.events.validate import load_schema, validate_event
from tests.test_events_emitter import one_of_each_type

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "events.md")


def docs_text() -> str:
    """docs/events.md."""
    with open(DOCS, encoding="utf-8") as f:
        return f.read()


def docs_json_examples() -> list[Any]:
    """Every ```json block of docs/events.md, decoded."""
    blocks = re.findall(r"```json\n(.*?)```", docs_text(), re.S)
    return [json.loads(block) for block in blocks]


def docs_field_tables() -> dict[str, list[str]]:
    """Per ``### `type``` section of the docs, the field names of its table, in order."""
    tables: dict[str, list[str]] = {}
    for section in re.split(r"^### ", docs_text(), flags=re.M)[1:]:
        heading = re.match(r"`(\w+)`", section)
        if heading is None:
            continue
        tables[heading.group(1)] = re.findall(r"^\| `(\w+)` \|", section, re.M)
    return tables


def valid_event(event_type: str = "share_submitted") -> dict[str, Any]:
    """A decoded, valid event of ``event_type``."""
    data = one_of_each_type()[event_type]
    return json.loads(encode_event(event_type, 1_732_651_200_000_000, "pool-a", 7, data))


class SchemaShapeTests(SynchronousTestCase):
    """The schema describes exactly the nine types, every field required, nothing else allowed."""

    def test_schema_is_valid_draft_2020_12(self) -> None:
        """The Draft 2020-12 metaschema accepts schema.json."""
        import jsonschema

        schema = load_schema()
        self.assertEqual(schema["$schema"], "https://json-schema.org/draft/2020-12/schema")
        jsonschema.Draft202012Validator.check_schema(schema)

    def test_event_types_agree_everywhere(self) -> None:
        """The schema lists the config's event types, in the same order."""
        schema = load_schema()
        self.assertEqual(tuple(schema["properties"]["event"]["enum"]), EVENT_TYPES)
        per_type = [rule["if"]["properties"]["event"]["const"] for rule in schema["allOf"]]
        self.assertEqual(tuple(per_type), EVENT_TYPES)

    def test_envelope_is_closed_and_complete(self) -> None:
        """The envelope requires its five fields and allows no others."""
        schema = load_schema()
        self.assertFalse(schema["additionalProperties"])
        self.assertEqual(schema["required"], ["event", "timestamp", "instance", "seq", "data"])
        self.assertEqual(list(schema["properties"]), schema["required"])

    def test_every_data_schema_requires_every_field_and_no_more(self) -> None:
        """Each type's data: additionalProperties false, required = all properties, source last."""
        definitions = load_schema()["$defs"]
        for event_type in EVENT_TYPES:
            data = definitions[f"data_{event_type}"]
            self.assertFalse(data["additionalProperties"], event_type)
            self.assertEqual(data["required"], list(data["properties"]), event_type)
            self.assertEqual(data["required"][-1], "source", event_type)

    def test_builders_produce_exactly_the_schema_fields(self) -> None:
        """payloads.<type>() takes every field but source as keywords and returns them all."""
        definitions = load_schema()["$defs"]
        examples = one_of_each_type()
        for event_type in EVENT_TYPES:
            fields = definitions[f"data_{event_type}"]["required"]
            builder = getattr(payloads, event_type)
            parameters = list(inspect.signature(builder).parameters)
            self.assertEqual(parameters + ["source"], fields, event_type)
            self.assertEqual(list(examples[event_type]), fields, event_type)
            self.assertEqual(examples[event_type]["source"], "hosted")

    def test_builders_make_difficulties_floats(self) -> None:
        """Integer difficulties become floats; counts stay ints."""
        data = payloads.miner_disconnected(
            user="bc1q", worker="", ip="::1", session_id="1", session_duration_s=5,
            shares_accepted=3, shares_rejected=0,
        )
        self.assertIsInstance(data["session_duration_s"], float)
        self.assertIsInstance(data["shares_accepted"], int)
        connected = one_of_each_type()["miner_connected"]
        self.assertEqual(json.dumps(connected["diff"]), "1024.0")


class ValidateEventTests(SynchronousTestCase):
    """validate_event accepts good events and names the path of what is wrong."""

    def assertInvalid(self, event: Any, path: str) -> None:
        """validate_event refuses ``event`` with a message starting with ``path``."""
        with self.assertRaises(ValueError) as caught:
            validate_event(event)
        self.assertTrue(str(caught.exception).startswith(path + ":"), str(caught.exception))

    def test_every_type_validates(self) -> None:
        """A realistic event of each type passes."""
        for event_type in EVENT_TYPES:
            validate_event(valid_event(event_type))

    def test_missing_field(self) -> None:
        """Dropping any data field fails, naming data."""
        for event_type in EVENT_TYPES:
            for field in valid_event(event_type)["data"]:
                event = valid_event(event_type)
                del event["data"][field]
                self.assertInvalid(event, "$.data")

    def test_extra_fields(self) -> None:
        """An unknown field in data or in the envelope fails."""
        event = valid_event()
        event["data"]["extra"] = 1
        self.assertInvalid(event, "$.data")
        event = valid_event()
        event["extra"] = 1
        self.assertInvalid(event, "$")

    def test_wrong_values(self) -> None:
        """Wrong types and out-of-range values fail at their path."""
        cases: list[tuple[str, str, Any, str]] = [
            ("share_submitted", "valid", "yes", "$.data.valid"),
            ("share_submitted", "user", 5, "$.data.user"),
            ("share_submitted", "diff", -1.0, "$.data.diff"),
            ("share_submitted", "version", "2000000", "$.data.version"),
            ("share_submitted", "source", "ckpool", "$.data.source"),
            ("share_submitted", "height", 1.5, "$.data.height"),
            ("block_found", "hash", "00" * 31, "$.data.hash"),
            ("block_found", "reward", 6.25, "$.data.reward"),
            ("hashrate_update", "hashrate_1m", -5.0, "$.data.hashrate_1m"),
            ("asicboost_detected", "version_mask", "1FFFE000", "$.data.version_mask"),
            ("diff_updated", "new_diff", None, "$.data.new_diff"),
            ("new_block_network", "tx_count", -1, "$.data.tx_count"),
        ]
        for event_type, field, value, path in cases:
            event = valid_event(event_type)
            event["data"][field] = value
            self.assertInvalid(event, path)

    def test_reason_goes_with_valid(self) -> None:
        """A rejected share needs a reason; an accepted one must not have one."""
        event = valid_event()
        event["data"]["valid"] = False
        self.assertInvalid(event, "$.data.reason")
        event["data"]["reason"] = "low_difficulty"
        validate_event(event)
        event["data"]["valid"] = True
        self.assertInvalid(event, "$.data.reason")

    def test_envelope_values(self) -> None:
        """seq starts at 1, timestamps are integers, types are known, the event is an object."""
        for field, value in [("seq", 0), ("timestamp", 1.5), ("event", "share"),
                             ("instance", ""), ("data", [])]:
            event = valid_event()
            event[field] = value
            self.assertInvalid(event, f"$.{field}")
        self.assertInvalid([], "$")

    def test_nullable_fields_accept_null(self) -> None:
        """Fields documented as nullable take null."""
        event = valid_event()
        data = event["data"]
        for field in ("user", "diff", "share_diff", "job_id", "nonce", "nonce2", "ntime",
                      "version", "height"):
            data[field] = None
        validate_event(event)

    def test_validation_does_not_modify_the_event(self) -> None:
        """validate_event only reads."""
        event = valid_event()
        before = copy.deepcopy(event)
        validate_event(event)
        self.assertEqual(event, before)


class DocsTests(SynchronousTestCase):
    """docs/events.md: its examples validate and its tables list the schema's fields."""

    def test_every_json_example_validates(self) -> None:
        """Each JSON example in the docs is a valid event."""
        examples = docs_json_examples()
        self.assertGreaterEqual(len(examples), len(EVENT_TYPES))
        for example in examples:
            validate_event(example)

    def test_every_type_has_an_example(self) -> None:
        """Each of the nine types has at least one example."""
        shown = {example["event"] for example in docs_json_examples()}
        self.assertEqual(shown, set(EVENT_TYPES))

    def test_field_tables_match_the_schema(self) -> None:
        """Each type's table lists exactly its schema fields, in order."""
        definitions = load_schema()["$defs"]
        tables = docs_field_tables()
        for event_type in EVENT_TYPES:
            self.assertEqual(tables.get(event_type), definitions[f"data_{event_type}"]["required"],
                             event_type)

    def test_examples_are_what_the_emitter_sends(self) -> None:
        """Each example re-encoded the emitter's way is one compact line that decodes the same."""
        for example in docs_json_examples():
            line = encode_event(example["event"], example["timestamp"], example["instance"],
                                example["seq"], example["data"])
            self.assertEqual(line.count(b"\n"), 1)
            self.assertEqual(json.loads(line), example)
