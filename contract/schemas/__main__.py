"""Regenerate (--write) or verify (--check) the committed JSON Schemas."""

from __future__ import annotations

import argparse
import sys

from contract.schemas import MODEL_BY_TOPIC, render, schema_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="regenerate the files")
    parser.add_argument("--check", action="store_true", help="fail if a file is stale (default)")
    mode = "--write" if parser.parse_args().write else "--check"
    stale = []
    for topic in MODEL_BY_TOPIC:
        path, text = schema_path(topic), render(topic)
        if mode == "--write":
            path.write_text(text)
        elif not path.exists() or path.read_text() != text:
            stale.append(path.name)
    if stale:
        print(f"stale schemas (run python -m contract.schemas --write): {stale}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
