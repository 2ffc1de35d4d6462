#!/usr/bin/env python3
"""Converts docs/openapi.yaml to Sources/NFServer/Resources/openapi.json, the document the server
serves at GET /openapi.json: the same document (YAML anchors expanded), keys in the YAML's order,
indented by 2, with a final newline.

    tools/openapi-json.py            writes the JSON file
    tools/openapi-json.py --check    exits 1 when the file is missing or differs from what it would write

Paths are relative to the repository root (the parent of tools/), wherever this is run from.
Needs PyYAML (Debian: python3-yaml).
"""

import argparse
import datetime
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "docs" / "openapi.yaml"
TARGET = ROOT / "Sources" / "NFServer" / "Resources" / "openapi.json"


class _Loader(yaml.SafeLoader):
    """YAML 1.1 resolves unquoted timestamps to datetimes and `on`/`off`/`yes`/`no` to booleans;
    JSON has no dates, so a date stays the text it was written as."""


def _timestamp_as_text(loader, node):
    return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _check_keys(value, path="$"):
    """JSON object keys are strings: a YAML key such as 200 (not '200') would turn into "200"
    silently, and a key like `null` or `true` into something else; refuse them instead."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise SystemExit(f"{SOURCE.relative_to(ROOT)}: key {key!r} at {path} is not a string; quote it")
            _check_keys(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_keys(item, f"{path}[{index}]")
    elif isinstance(value, (datetime.date, datetime.datetime)):
        raise SystemExit(f"{SOURCE.relative_to(ROOT)}: a date at {path}; quote it")


def render() -> str:
    try:
        with SOURCE.open(encoding="utf-8") as file:
            document = yaml.load(file, Loader=_Loader)
    except yaml.YAMLError as error:
        raise SystemExit(f"{SOURCE.relative_to(ROOT)}: {error}")
    if not isinstance(document, dict) or "openapi" not in document:
        raise SystemExit(f"{SOURCE.relative_to(ROOT)} is not an OpenAPI document")
    _check_keys(document)
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the JSON file is missing or differs from what would be written")
    arguments = parser.parse_args()
    text = render()
    relative = TARGET.relative_to(ROOT)
    if arguments.check:
        try:
            current = TARGET.read_text(encoding="utf-8")
        except FileNotFoundError:
            print(f"{relative} is missing; run tools/openapi-json.py", file=sys.stderr)
            return 1
        if current != text:
            print(f"{relative} is out of date with docs/openapi.yaml; run tools/openapi-json.py", file=sys.stderr)
            return 1
        return 0
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
