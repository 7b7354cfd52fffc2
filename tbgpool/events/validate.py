"""Check an event against ``schema.json`` (needs ``jsonschema``, a test-only dependency)."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any


def load_schema() -> dict[str, Any]:
    """The events JSON Schema (draft 2020-12) shipped with the package."""
    text = resources.files("tbgpool.events").joinpath("schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator() -> Any:
    try:
        import jsonschema
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise RuntimeError("validate_event needs the jsonschema package") from e
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _path_text(path: Any) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def validate_event(obj: object) -> None:
    """Return if ``obj`` (a decoded event) matches the schema; ValueError naming the path if not."""
    validator = _validator()
    errors = sorted(validator.iter_errors(obj), key=lambda e: (-len(e.absolute_path), e.message))
    if not errors:
        return
    import jsonschema.exceptions

    error = jsonschema.exceptions.best_match(errors)
    # best_match stops at an if/then or oneOf; its deepest cause names the field.
    while error.context:
        error = jsonschema.exceptions.best_match(error.context)
    raise ValueError(f"{_path_text(error.absolute_path)}: {error.message}")
