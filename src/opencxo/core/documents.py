"""Validated YAML/JSON documents (scenario files, route files …): read, parse, name every bad field.

A file, a form and an API body go through the same pydantic model, so they get the same message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from opencxo.core.errors import Invalid, NotFound

M = TypeVar("M", bound=BaseModel)

MAX_UPLOAD_BYTES = 1_000_000

_TYPE_TAGS = frozenset({"float", "int", "str", "bool", "list", "dict"})


def field_errors(error: ValidationError) -> dict[str, str]:
    """Field path → message; a union's branch names (``float``, ``Spread``) are left out and the
    branch that says what is wrong wins over "Input should be a valid …"."""
    errors: dict[str, str] = {}
    for item in error.errors():
        parts: list[str] = []
        for part in item["loc"]:
            text = str(part)
            if text in _TYPE_TAGS or "[" in text:
                break
            parts.append(text)
        where = ".".join(parts) or "file"
        message = str(item["msg"]).removeprefix("Value error, ")
        if where not in errors or errors[where].startswith("Input should be"):
            errors[where] = message
    return errors


def parse(model: type[M], data: Any, *, what: str) -> M:
    """Validate plain data against a schema; every bad field is named in the error."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        errors = field_errors(error)
        listing = "; ".join(f"{field}: {message}" for field, message in errors.items())
        raise Invalid(f"{what} is not valid — {listing}", field_errors=errors) from None


def _load(text: str, filename: str, *, as_json: bool) -> Any:
    """The plain data of YAML or JSON text; what is wrong with it names the file."""
    try:
        return json.loads(text) if as_json else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        raise Invalid(f"{filename} is not valid YAML or JSON: {error}") from None
    except RecursionError:
        # Both parsers recurse once per level: thousands of "[" or "{" exhaust the stack.
        raise Invalid(
            f"{filename} is too deeply nested to read; such a file nests its lists and mappings "
            "only a few levels deep"
        ) from None


def read_file(path: Path) -> Any:
    """The plain data of a YAML or JSON file."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise Invalid(f"{path.name} is not UTF-8 text; save it as UTF-8") from None
    except OSError as error:
        raise NotFound(f"cannot read {path}: {error.strerror or error}") from None
    return _load(text, path.name, as_json=path.suffix.lower() == ".json")


def parse_upload(content: bytes, filename: str, *, expected: str) -> dict[str, Any]:
    """The mapping held by an uploaded YAML or JSON file (JSON is YAML).

    ``expected`` names a few of its fields for the message when the file holds something else.
    """
    if len(content) > MAX_UPLOAD_BYTES:
        message = f"{filename} is larger than 1 MB; such a file is a few kilobytes"
        raise Invalid(message, field_errors={"file": message})
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        message = f"{filename} is not a UTF-8 text file"
        raise Invalid(message, field_errors={"file": message}) from None
    try:
        data = _load(text, filename, as_json=False)
    except Invalid as error:
        raise Invalid(error.message, field_errors={"file": error.message}) from None
    if not isinstance(data, dict):
        message = f"{filename} must hold a mapping of fields ({expected})"
        raise Invalid(message, field_errors={"file": message})
    return data
