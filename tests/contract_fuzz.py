"""Fuzz cases for the detection-results contract, derived from its JSON Schema alone.

The contract has two implementations (the pydantic models the detector uses and the job's
JVM check). A differential test only proves something if its cases come from neither, so
this generator reads nothing but `contract/schemas/detection-results.v1.json`: it walks the
schema (standard 2020-12 keywords plus the contract's `x-` keywords) to build valid
instances, then breaks them at random places, in the JSON tree, in the text and in the bytes.

    build_cases(12_000, seed=1)  ->  [Case(name, kind, payload), ...]

`kind` is VALID for instances that satisfy the schema, else the mutation class. Kinds in
GUARANTEED_INVALID yield only payloads that the contract must reject; the GREY_ZONE ones (a
duplicated key, a byte-order mark, a lone surrogate escape, base64 with non-zero pad bits, a
decimal that lies beyond a bound only until it is rounded to a double) are places where JSON,
RFC 4648 or double arithmetic leave the answer open: the two sides only have to agree.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

SCHEMA_PATH = (
    Path(__file__).resolve().parents[1] / "contract" / "schemas" / "detection-results.v1.json"
)

Json = Any
JsonPath = tuple[str | int, ...]
Node = dict[str, Any]


@dataclass(frozen=True)
class Case:
    """One record value to check; ``payload`` None is a Kafka record without a value."""

    name: str
    kind: str
    payload: bytes | None


VALID = "valid"
GUARANTEED_INVALID: tuple[str, ...] = (
    "wrong_type",
    "out_of_range",
    "missing_required",
    "extra_field",
    "long_string",
    "nan_infinity",
    "deep_nesting",
    "invalid_utf8",
    "empty_and_null",
    "enum_violation",
    "order_violation",
    "index_violation",
    "base64_violation",
    "pattern_violation",
    "truncated_json",
    "not_an_object",
    "trailing_garbage",
    "raw_control_char",
    "lenient_syntax",
)
# JSON leaves these open (RFC 8259: duplicate names "unpredictable", a BOM "MAY" be ignored,
# an unpaired surrogate escape is syntactically allowed): the oracles need only agree.
GREY_ZONE: tuple[str, ...] = (
    "duplicate_key",
    "byte_order_mark",
    "lone_surrogate",
    "base64_noncanonical",
    "double_rounding",
)
MUTATION_KINDS: tuple[str, ...] = GUARANTEED_INVALID + GREY_ZONE

JSON_TYPES = ("null", "boolean", "integer", "number", "string", "array", "object")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class _Retry(Exception):
    """The instance at hand cannot carry the wanted mutation (or value): draw another."""


# ---------------------------------------------------------------------------------------
# serialization: json.dumps in varying styles, then text- and byte-level substitutions


class Writer:
    """Serializes one instance; values json.dumps cannot write (raw tokens such as NaN,
    1e400 or invalid UTF-8, a repeated key) are left as sentinel strings and swapped in
    afterwards, so mutations can sit anywhere in an ordinary Python tree."""

    def __init__(self, rng: random.Random, long_numbers: bool = False) -> None:
        self.rng = rng
        # numbers spelled with over 1,000 characters: only where nothing else is at stake
        self.long_numbers = long_numbers and rng.random() < 0.2
        self._subs: list[tuple[bytes, bytes]] = []
        self._nonce = f"{rng.getrandbits(64):016x}"

    def _sentinel(self, replacement: bytes) -> str:
        mark = f"@@{self._nonce}-{len(self._subs)}@@"
        self._subs.append((json.dumps(mark).encode(), replacement))
        return mark

    def raw(self, token: bytes | str) -> str:
        """A placeholder value that is written as ``token`` verbatim."""
        return self._sentinel(token.encode() if isinstance(token, str) else token)

    def key(self, name: str) -> str:
        """A placeholder key written as ``name`` (maybe with escapes): lets an object hold
        one key twice."""
        if name and self.rng.random() < 0.3:
            at = self.rng.randrange(len(name))
            escaped = json.dumps(name[:at])[:-1] + f"\\u{ord(name[at]):04x}"
            return self._sentinel((escaped + json.dumps(name[at + 1 :])[1:]).encode())
        return self._sentinel(json.dumps(name).encode())

    def respell(self, value: Json) -> Json:
        """Rewrites some numbers, strings and keys in other spellings of the same JSON value
        (1.5 -> 15E-1, 0 -> -0, "car" -> "c\\u0061r"), so a checker cannot rely on the one
        way Python prints them."""
        rng = self.rng
        if isinstance(value, dict):
            return {self._respell_string(k, 0.03): self.respell(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.respell(v) for v in value]
        if isinstance(value, str):
            return self._respell_string(value, 0.05)
        if rng.random() < 0.15 and not isinstance(value, bool):
            if isinstance(value, int) and value == 0:
                return self.raw("-0")
            if isinstance(value, float) and math.isfinite(value):
                return self.raw(_float_spelling(value, rng, self.long_numbers))
        return value

    def _respell_string(self, text: str, chance: float) -> str:
        if not text or text.startswith(f"@@{self._nonce}") or self.rng.random() >= chance:
            return text
        out = []
        for char in text:
            if self.rng.random() < 0.3:
                escaped = json.dumps(char)[1:-1]  # a surrogate pair beyond the BMP
                out.append("\\/" if char == "/" else escaped if ord(char) > 0xFFFF
                           else f"\\u{ord(char):04{self.rng.choice('Xx')}}")
            else:
                out.append(json.dumps(char, ensure_ascii=False)[1:-1])
        return self._sentinel(('"' + "".join(out) + '"').encode())

    def dump(self, value: Json, *, respell: bool = True) -> bytes:
        """Compact, spaced or indented JSON, ASCII-escaped or raw UTF-8, keys in any order."""
        if respell:
            value = self.respell(value)
        style = self.rng.randrange(4)
        separators = [(",", ":"), (", ", ": "), (",", ": "), (" , ", " : ")][style]
        text = json.dumps(
            value,
            separators=separators,
            indent=self.rng.choice([None, None, 0, 2, "\t"]),
            ensure_ascii=self.rng.random() < 0.5,
            sort_keys=self.rng.random() < 0.3,
            allow_nan=False,
        )
        out = text.encode()
        for old, new in self._subs:  # placeholders made for options not taken are absent
            out = out.replace(old, new)
        if self.rng.random() < 0.1:  # whitespace around the root is still one JSON text
            out = self.rng.choice([b" ", b"\n", b"\t", b"\r\n"]) + out
            out += self.rng.choice([b"", b" ", b"\n", b"\r\n \t"])
        return out


def _float_spelling(value: float, rng: random.Random, long_ok: bool) -> str:
    """Another decimal spelling of exactly the same number (moved point, E, +exponent, a
    huge exponent on zero, a long run of trailing zeros: JSON bounds none of them)."""
    if value == 0:
        zeros = ["0e0", "0E+2", "0.000", "0e999999999", "0.0E-999999999"]
        zeros += ["0." + "0" * 1200] if long_ok else []
        return ("-" if math.copysign(1, value) < 0 else "") + rng.choice(zeros)
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    text = "".join(map(str, digits)).lstrip("0") or "0"
    exp, shift = int(exponent), rng.randint(-3, 3)
    if shift > 0:  # append zeros: x10^shift, so the exponent drops by as much
        text += "0" * shift
        exp -= shift
    elif shift < 0 and len(text) > -shift:  # move the point left: the exponent rises
        text = text[:shift] + "." + text[shift:]
        exp -= shift
    if rng.random() < 0.05:
        text += ("" if "." in text else ".") + "0" * rng.choice([30, 1200 if long_ok else 60])
    e = rng.choice(["e", "E"])
    plus = rng.choice(["", "+"]) if exp >= 0 else ""
    return f"{'-' if sign else ''}{text}{e}{plus}{exp}"


# ---------------------------------------------------------------------------------------
# a tiny generator for the anchored regular expressions the schema uses


def _pattern_atoms(pattern: str) -> list[tuple[list[str], int, int]]:
    """Parses ^...$ made of literals, [classes] and {n}/{n,m}/?/*/+ quantifiers."""
    if not (pattern.startswith("^") and pattern.endswith("$")):
        raise NotImplementedError(f"only anchored patterns are generated: {pattern}")
    body, atoms, i = pattern[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c == "[":
            end = body.index("]", i)
            spec, chars, j = body[i + 1 : end], [], 0
            if spec.startswith("^"):
                raise NotImplementedError("negated classes")
            while j < len(spec):
                if j + 2 < len(spec) and spec[j + 1] == "-":
                    chars += [chr(o) for o in range(ord(spec[j]), ord(spec[j + 2]) + 1)]
                    j += 3
                else:
                    chars.append(spec[j])
                    j += 1
            i = end + 1
        elif c == "\\":
            chars = list("0123456789") if body[i + 1] == "d" else [body[i + 1]]
            i += 2
        elif c in "()|.":
            raise NotImplementedError(f"regex syntax {c!r} in {pattern}")
        else:
            chars = [c]
            i += 1
        low = high = 1
        if i < len(body) and body[i] in "?*+{":
            if body[i] == "{":
                end = body.index("}", i)
                bounds = body[i + 1 : end].split(",")
                low = int(bounds[0])
                high = int(bounds[-1]) if bounds[-1] else low + 8
                i = end + 1
            else:
                low, high = {"?": (0, 1), "*": (0, 8), "+": (1, 8)}[body[i]]
                i += 1
        atoms.append((chars, low, high))
    return atoms


def pattern_matches(pattern: str, text: str) -> bool:
    """ECMA-262 semantics for the anchored patterns: `$` is the end of the text only (Python's
    `$` would also match before a final newline)."""
    if pattern.startswith("^") and pattern.endswith("$"):
        return re.fullmatch(pattern[1:-1], text) is not None
    return re.search(pattern, text) is not None


# ---------------------------------------------------------------------------------------
# the schema walker


@dataclass(frozen=True)
class Loc:
    """A value in an instance: where it is, the schema branch it satisfies, and the schema
    of its position (which may allow other branches, e.g. null)."""

    path: JsonPath
    node: Node
    position: Node


_TEXT_POOL = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:./ "
    '"\\\b\f\n\r\t\x00\x1f\x7f'
    "éßΩжあ中文\u0301\u2028\u2029\ufeff\ufffd\uffff"
    "😀🚗𝄞\U0010fffd"
)
_IDENT_POOL = "abcdefghijklmnopqrstuvwxyz0123456789-_"


def _get(doc: Json, path: JsonPath) -> Json:
    for part in path:
        doc = doc[part]
    return doc


def _set(doc: Json, path: JsonPath, value: Json) -> Json:
    """Sets ``value`` at ``path`` and returns the (possibly new) root."""
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def _show(path: JsonPath) -> str:
    return "/" + "/".join(map(str, path))


class SchemaFuzzer:
    """Valid instances and mutations of one JSON Schema document, from a seeded Random."""

    def __init__(self, schema: Node, rng: random.Random) -> None:
        self.schema = schema
        self.rng = rng
        self._fixups: list[tuple[list[int], str]] = []
        self._all_property_names = sorted(self._property_names(schema))

    # -- schema reading ------------------------------------------------------------------

    def resolve(self, node: Node) -> Node:
        """Follows local `$ref`s (`#/$defs/...`); sibling keywords of the ref are kept."""
        while "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise NotImplementedError(f"non-local $ref {ref}")
            target: Json = self.schema
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = {**{k: v for k, v in node.items() if k != "$ref"}, **target}
        return node

    def _property_names(self, node: Json) -> set[str]:
        names: set[str] = set()
        if isinstance(node, dict):
            if isinstance(node.get("properties"), dict):
                names |= set(node["properties"])
            for value in node.values():
                names |= self._property_names(value)
        elif isinstance(node, list):
            for value in node:
                names |= self._property_names(value)
        return names

    def string_enums(self) -> list[list[str]]:
        """Every string enum/const of the schema: values valid elsewhere, wrong here."""
        found: list[list[str]] = []

        def walk(node: Json) -> None:
            if isinstance(node, dict):
                values = node.get("enum", [node["const"]] if "const" in node else [])
                strings = [v for v in values if isinstance(v, str)]
                if strings:
                    found.append(strings)
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(self.schema)
        return found

    def branches(self, node: Node) -> list[Node]:
        """The alternatives of a position (anyOf/oneOf flattened), each resolved."""
        node = self.resolve(node)
        alternatives = node.get("anyOf") or node.get("oneOf")
        if not alternatives:
            return [node]
        out: list[Node] = []
        for alternative in alternatives:
            out += self.branches(alternative)
        return out

    def allowed_types(self, node: Node) -> set[str]:
        types: set[str] = set()
        for branch in self.branches(node):
            declared = branch.get("type")
            if declared is None and "const" in branch:
                declared = _json_type(branch["const"])
            names = {declared} if isinstance(declared, str) else set(declared or JSON_TYPES)
            if "number" in names:
                names.add("integer")
            types |= names
        return types

    def branch_of(self, node: Node, value: Json) -> Node | None:
        """The alternative ``value`` was generated from (type, then discriminator const)."""
        for branch in self.branches(node):
            declared = branch.get("type")
            vtype = _json_type(value)
            if declared is not None and not (
                declared == vtype or (declared == "number" and vtype == "integer")
            ):
                continue
            if isinstance(value, dict):
                consts = {
                    k: self.resolve(p)["const"]
                    for k, p in branch.get("properties", {}).items()
                    if "const" in self.resolve(p)
                }
                if any(k in value and value[k] != c for k, c in consts.items()):
                    continue
            return branch
        return None

    # -- valid instances -----------------------------------------------------------------

    def valid(self) -> Json:
        """A random instance satisfying every keyword, `x-ordered` and `x-index-into` too."""
        for _ in range(100):
            self._fixups = []
            instance = self.value(self.schema)
            try:
                for items, pointer in self._fixups:
                    target = _get(instance, tuple(p for p in pointer.split("/") if p))
                    if items and not target:
                        raise _Retry
                    items[:] = [self._index(len(target)) for _ in items]
            except _Retry:
                continue
            return instance
        raise RuntimeError("no satisfiable instance in 100 draws")

    def _index(self, size: int) -> int:
        return self.rng.choice([0, size - 1, self.rng.randrange(size)])

    def value(self, node: Node) -> Json:
        node = self.resolve(node)
        rng = self.rng
        for key in ("anyOf", "oneOf"):
            if key in node:
                options = [self.resolve(o) for o in node[key]]
                nulls = [o for o in options if o.get("type") == "null"]
                if nulls and rng.random() < 0.3:
                    return None
                return self.value(rng.choice([o for o in options if o not in nulls] or nulls))
        if "const" in node:
            return copy.deepcopy(node["const"])
        if "enum" in node:
            return copy.deepcopy(rng.choice(node["enum"]))
        kind = node.get("type")
        if kind == "object":
            return self._object(node)
        if kind == "array":
            return self._array(node)
        if kind == "string":
            return self._string(node)
        if kind == "integer":
            return self._integer(node)
        if kind == "number":
            return self._number(node)
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "null":
            return None
        raise NotImplementedError(f"schema node without a generable type: {node}")

    def _object(self, node: Node) -> dict[str, Json]:
        properties: dict[str, Node] = node.get("properties", {})
        required = set(node.get("required", ()))
        names = list(properties)
        self.rng.shuffle(names)
        out: dict[str, Json] = {}
        for name in names:
            if name not in required and self.rng.random() < 0.45:
                continue
            sub = self.resolve(properties[name])
            if name not in required and "default" in sub and self.rng.random() < 0.2:
                out[name] = copy.deepcopy(sub["default"])
            else:
                out[name] = self.value(sub)
        for low, high in node.get("x-ordered", ()):
            if low in out and high in out:
                if out[low] > out[high]:
                    out[low], out[high] = out[high], out[low]
                elif self.rng.random() < 0.1:
                    out[high] = out[low]  # equal is in order
        return out

    def _array(self, node: Node) -> list[Json]:
        if "prefixItems" in node:
            items = [self.value(p) for p in node["prefixItems"]]
        else:
            low = node.get("minItems", 0)
            high = node.get("maxItems", low + 8)
            count = min(high, low + self.rng.choice([0, 0, 1, 1, 2, 3, 4, 6, 8]))
            items = [self.value(node["items"]) for _ in range(count)]
        if "x-index-into" in node:
            self._fixups.append((items, node["x-index-into"]))
        return items

    def _string(self, node: Node) -> str:
        rng = self.rng
        if "pattern" in node:
            return self.from_pattern(node["pattern"])
        if node.get("contentEncoding") == "base64":
            cap = node.get("x-max-decoded-bytes", 1024)
            size = rng.choice([0, 1, 2, 3, 4, rng.randrange(200), rng.randrange(200), cap])
            if size == cap and rng.random() < 0.9:
                size = rng.randrange(min(cap, 600))
            return base64.b64encode(rng.randbytes(size)).decode()
        low = node.get("minLength", 0)
        high = node.get("maxLength", low + 40)
        length = rng.choice(
            [low, high, rng.randint(low, min(high, low + 12)), rng.randint(low, high)]
        )
        # code points, not UTF-16 units, count: strings of astral characters only
        pool = rng.choice([_TEXT_POOL, _TEXT_POOL, _IDENT_POOL, _IDENT_POOL, _IDENT_POOL, "😀𝄞"])
        return "".join(rng.choices(pool, k=length))

    def from_pattern(self, pattern: str) -> str:
        return "".join(
            "".join(self.rng.choices(chars, k=self.rng.randint(low, high)))
            for chars, low, high in _pattern_atoms(pattern)
        )

    @staticmethod
    def int_bounds(node: Node) -> tuple[int, int]:
        low = node.get("minimum", INT64_MIN)
        if "exclusiveMinimum" in node:
            low = max(low, math.floor(node["exclusiveMinimum"]) + 1)
        high = node.get("maximum", INT64_MAX)
        if "exclusiveMaximum" in node:
            high = min(high, math.ceil(node["exclusiveMaximum"]) - 1)
        return int(low), int(high)

    def _integer(self, node: Node) -> int:
        low, high = self.int_bounds(node)
        rng = self.rng
        return rng.choice(
            [low, high, min(high, low + 1), max(low, high - 1),
             rng.randint(low, min(high, low + 1000)), rng.randint(low, high)]
        )

    def _number(self, node: Node) -> float | int:
        rng = self.rng
        low, high = node.get("minimum"), node.get("maximum")
        base = 0.0 if low is None else float(low)
        candidates: list[float | int] = [
            base + rng.expovariate(1 / 500),
            base + rng.random(),
            base + rng.randint(0, 4000),
            base + 5e-324,
            base + 1e-300,
            base,
        ]
        if high is not None:
            candidates += [
                float(high),
                high,
                math.nextafter(float(high), -math.inf),
                rng.uniform(base, float(high)),
            ] * 2
        else:
            candidates += [1.7976931348623157e308, 2**64, 10**18, rng.uniform(base, 1e12)]
        if low is None:
            candidates += [-rng.expovariate(1 / 500), -1.7976931348623157e308, -(2**40)]
        if low is not None and low <= 0 and (high is None or high >= 0):
            candidates.append(-0.0)
        value = rng.choice(candidates)
        if high is not None and value > high:
            value = high
        return value

    # -- positions in an instance --------------------------------------------------------

    def locations(self, instance: Json) -> list[Loc]:
        out: list[Loc] = []
        self._walk(instance, self.schema, (), out)
        return out

    def _walk(self, value: Json, position: Node, path: JsonPath, out: list[Loc]) -> None:
        node = self.branch_of(position, value)
        if node is None:
            raise AssertionError(f"{_show(path)} matches no branch of its schema")
        out.append(Loc(path, node, self.resolve(position)))
        if isinstance(value, dict):
            for key, sub in value.items():
                if key in node.get("properties", {}):
                    self._walk(sub, node["properties"][key], (*path, key), out)
        elif isinstance(value, list):
            prefix = node.get("prefixItems", [])
            for i, sub in enumerate(value):
                item = prefix[i] if i < len(prefix) else node.get("items")
                if item is not None:
                    self._walk(sub, item, (*path, i), out)


def _json_type(value: Json) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(type(value))


# ---------------------------------------------------------------------------------------
# mutations: each takes a fresh valid instance and returns (payload, what it did) or
# raises _Retry when the instance has no place for it


Mutation = Callable[["_Mutator", Json], tuple[bytes | None, str]]


class _Mutator:
    def __init__(self, fuzz: SchemaFuzzer, rng: random.Random, long_numbers: bool) -> None:
        self.fuzz = fuzz
        self.rng = rng
        self.writer = Writer(rng, long_numbers)

    def pick(self, instance: Json, accept: Callable[[Loc], bool], root: bool = False) -> Loc:
        spots = [
            loc for loc in self.fuzz.locations(instance) if (root or loc.path) and accept(loc)
        ]
        if not spots:
            raise _Retry
        return self.rng.choice(spots)

    def put(self, instance: Json, loc: Loc, value: Json) -> Json:
        return _set(instance, loc.path, value)

    def dump(self, instance: Json) -> bytes:
        return self.writer.dump(instance)

    # value makers

    def of_type(self, json_type: str, original: Json) -> Json:
        rng = self.rng
        if json_type == "null":
            return None
        if json_type == "boolean":
            return rng.random() < 0.5
        if json_type == "integer":
            return rng.choice([0, 1, -1, 7, INT64_MAX])
        if json_type == "number":  # a non-integer token: 1.0 is not the integer 1
            integral = isinstance(original, int) and not isinstance(original, bool)
            if integral and rng.random() < 0.5 and abs(original) < 2**53:
                return float(original)
            return rng.choice([0.5, 1.0, 2.0, -3.25, 1e-7, 12.0])
        if json_type == "string":
            spelled = json.dumps(original) if not isinstance(original, str) else "x"
            return rng.choice([spelled, "1", "0.5", "true", "null", "[]", "car", " "])
        if json_type == "array":
            return rng.choice([[], [original], [1, 2], ["a"]])
        return rng.choice([{}, {"value": original}, {"a": 1}])


def _wrong_type(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    loc = m.pick(instance, lambda _: True)
    others = [t for t in JSON_TYPES if t not in m.fuzz.allowed_types(loc.position)]
    json_type = m.rng.choice(others)
    value = m.of_type(json_type, _get(instance, loc.path))
    return m.dump(m.put(instance, loc, value)), f"{_show(loc.path)} <- {json_type} {value!r:.40}"


def _out_of_range(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    def bounded(loc: Loc) -> bool:
        n = loc.node
        numeric = n.get("type") in ("integer", "number")
        return numeric or "minItems" in n or "maxItems" in n

    loc = m.pick(instance, bounded)
    node, rng, w = loc.node, m.rng, m.writer
    original = _get(instance, loc.path)
    options: list[Json] = []
    if node.get("type") == "integer":
        low, high = SchemaFuzzer.int_bounds(node)
        if low > INT64_MIN:
            options += [low - 1, low - 2, INT64_MIN - 1, -(2**70)]
        if high < INT64_MAX:
            options += [high + 1, high + 2, 2**32, INT64_MAX]
        options += [2**63, 2**64, 2**70, 10**30, w.raw("1" + "0" * 400)]
    elif node.get("type") == "number":
        lo, hi = node.get("minimum"), node.get("maximum")
        if lo is not None:
            options += [lo - 1e-9, math.nextafter(float(lo), -math.inf), lo - 1, -1e308]
            options += [w.raw("-1e400"), w.raw("-" + "9" * 400)]
        if hi is not None:
            options += [math.nextafter(float(hi), math.inf), hi + 1e-9, hi + 1, 2**70]
        # beyond the doubles both sides use: an overflow, never a number of the contract
        options += [w.raw("1e400"), w.raw("1E+309"), w.raw("9" * 400)]
        if lo is None:
            options += [w.raw("-1e400")]
    else:
        low_items, high_items = node.get("minItems", 0), node.get("maxItems")
        if low_items > 0:
            options.append(original[: low_items - 1])
        if high_items is not None:
            item = node.get("prefixItems", [node.get("items", {})])[-1]
            options.append(original + [m.fuzz.value(item) for _ in range(rng.randint(1, 3))])
        if not options:
            raise _Retry
    value = rng.choice(options)
    return m.dump(m.put(instance, loc, value)), f"{_show(loc.path)} <- {value!r:.40}"


def _missing_required(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    loc = m.pick(instance, lambda loc: bool(loc.node.get("required")), root=True)
    name = m.rng.choice(loc.node["required"])
    del _get(instance, loc.path)[name]
    return m.dump(instance), f"{_show(loc.path)} without {name}"


def _extra_field(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    loc = m.pick(instance, lambda loc: loc.node.get("additionalProperties") is False, root=True)
    obj = _get(instance, loc.path)
    own = list(loc.node.get("properties", {}))
    rng = m.rng
    candidates = [
        "extra",
        f"x_{rng.randrange(10**6)}",
        rng.choice(m.fuzz._all_property_names),
        "",
        "\u0000",
        "__proto__",
        "$schema",
    ]
    if own:
        name = rng.choice(own)
        candidates += [name.upper(), name.capitalize(), name + " ", " " + name, name + "\u0000"]
    choices = [c for c in candidates if c not in own]
    key = rng.choice(choices)
    value: Json = rng.choice([None, 1, "x", True, [], {}, 0.5])
    obj[key] = value
    return m.dump(instance), f"{_show(loc.path)} + {key!r}: {value!r}"


def _plain_string(loc: Loc) -> bool:
    """A free-text string: only its length constrains it."""
    n = loc.node
    shaped = {"enum", "const", "pattern", "contentEncoding"} & set(n)
    return n.get("type") == "string" and not shaped


def _long_string(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    loc = m.pick(instance, lambda loc: loc.node.get("type") == "string")
    node, rng = loc.node, m.rng
    char = rng.choice(["a", "é", "中", "😀", "\\", '"'])
    if node.get("contentEncoding") == "base64":
        size = node.get("x-max-decoded-bytes", 1 << 16) + rng.choice([1, 2, 3, 100, 10_000])
        value = base64.b64encode(rng.randbytes(size)).decode()
    elif "maxLength" in node:
        value = char * rng.choice([node["maxLength"] + 1, node["maxLength"] + 2, 10_000])
    else:  # enum, const or pattern: no string this long matches
        value = char * rng.choice([1_000, 10_000, 10_000, 10_000, 100_000])
    return m.dump(m.put(instance, loc, value)), f"{_show(loc.path)} <- {len(value)} x {char!r}"


def _nan_infinity(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    loc = m.pick(instance, lambda loc: loc.node.get("type") in ("number", "integer"))
    token = m.rng.choice(["NaN", "Infinity", "-Infinity", "+Infinity", "nan", "inf", "-NaN"])
    return m.dump(m.put(instance, loc, m.writer.raw(token))), f"{_show(loc.path)} <- {token}"


def _duplicate_key(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    loc = m.pick(instance, lambda loc: isinstance(_get(instance, loc.path), dict) and bool(
        _get(instance, loc.path)), root=True)
    obj: dict[str, Json] = _get(instance, loc.path)
    name = m.rng.choice(list(obj))
    sub = loc.node.get("properties", {}).get(name, {})
    if m.rng.random() < 0.5:
        other = m.fuzz.value(sub)
        how = "valid"
    else:
        other = m.of_type(m.rng.choice(JSON_TYPES), obj[name])
        how = "any"
    if other == obj[name]:
        raise _Retry
    dup = {m.writer.key(name): other}
    items = list(obj.items())
    at = m.rng.randint(0, len(items))
    rebuilt = dict(items[:at] + list(dup.items()) + items[at:])
    instance = _set(instance, loc.path, rebuilt)
    return m.dump(instance), f"{_show(loc.path)} {name!r} twice ({how} {other!r:.30})"


def _deep_nesting(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    loc = m.pick(instance, lambda _: True)
    depth = m.rng.choice([600, 1_000, 2_000, 5_000, 10_000, 10_000, 10_000, 20_000])
    if m.rng.random() < 0.6:
        token = "[" * depth + "]" * depth
    else:
        token = '{"a":' * depth + "1" + "}" * depth
    return m.dump(m.put(instance, loc, m.writer.raw(token))), f"{_show(loc.path)} <- {depth} deep"


_BAD_UTF8 = (b"\xff", b"\xc3\x28", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf8\x88\x80\x80",
             b"\xf4\x90\x80\x80", b"\x80", b"\xfe\xfe", b"\xe0\x80\xaf")


def _invalid_utf8(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    loc = m.pick(instance, lambda loc: loc.node.get("type") == "string")
    text: str = _get(instance, loc.path)
    cut = m.rng.randint(0, len(text))
    bad = m.rng.choice(_BAD_UTF8)
    token = json.dumps(text[:cut], ensure_ascii=False)[:-1].encode() + bad
    token += json.dumps(text[cut:], ensure_ascii=False)[1:].encode()
    return m.dump(m.put(instance, loc, m.writer.raw(token))), f"{_show(loc.path)} has {bad!r}"


def _empty_and_null(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    rng = m.rng
    if rng.random() < 0.15:
        payload = rng.choice([b"", None, b"{}", b" ", b"\n", b"{ }"])
        return payload, f"record value {payload!r}"
    fuzz = m.fuzz

    def rejects(loc: Loc, empty: Json) -> bool:
        types = fuzz.allowed_types(loc.position)
        kind = _json_type(empty)
        if kind not in types:
            return True
        node = fuzz.branch_of(loc.position, empty)
        if node is None:
            return True
        if kind == "string":
            return (node.get("minLength", 0) > 0 or "enum" in node or "const" in node
                    or ("pattern" in node and not pattern_matches(node["pattern"], "")))
        if kind == "object":
            return bool(node.get("required"))
        if kind == "array":
            return bool(node.get("minItems", 0) > 0)
        return False

    empty: Json = rng.choice([None, "", {}, []])
    loc = m.pick(instance, lambda loc: rejects(loc, empty))
    return m.dump(m.put(instance, loc, copy.deepcopy(empty))), f"{_show(loc.path)} <- {empty!r}"


def _enum_violation(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    loc = m.pick(instance, lambda loc: "enum" in loc.node or "const" in loc.node)
    allowed = loc.node.get("enum", [loc.node.get("const")])
    original = _get(instance, loc.path)
    options: list[str | int]
    if isinstance(original, str):
        options = [original.upper(), original.capitalize(), original + " ", " " + original,
                   original[:-1], original + "s", original.replace(" ", "_"),
                   original.replace("a", "\u0430"), original + "\u0000", "unknown_" + original,
                   "other", "*"]
        for others in m.fuzz.string_enums():
            options += others
    elif isinstance(original, int) and not isinstance(original, bool):
        options = [original + 1, original - 1, 0, 2, 10, -1]
    else:
        raise _Retry
    options = [o for o in options if o not in allowed and not (o == "" and not original)]
    value = m.rng.choice(options)
    return m.dump(m.put(instance, loc, value)), f"{_show(loc.path)} <- {value!r}"



def _order_violation(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    loc = m.pick(instance, lambda loc: bool(loc.node.get("x-ordered")))
    obj = _get(instance, loc.path)
    pairs = [p for p in loc.node["x-ordered"] if p[0] in obj and p[1] in obj]
    if not pairs:
        raise _Retry
    low, high = m.rng.choice(pairs)
    high_node = m.fuzz.resolve(loc.node["properties"][high])
    floor = high_node.get("minimum", 0)
    rng = m.rng
    # numbers are doubles on both sides: the violation must survive rounding to a double
    kept = float(obj[high]) if obj[high] < 1e300 else 1e300
    top = rng.choice([floor, float(floor), kept, rng.uniform(floor, 1e4)])
    bigger = [math.nextafter(float(top), math.inf), top + 1, top * 2 + 1, 1.7976931348623157e308]
    obj[high] = top
    obj[low] = rng.choice([b for b in bigger if float(b) > float(top) and math.isfinite(b)])
    return m.dump(instance), f"{_show(loc.path)} {low}={obj[low]!r} > {high}={obj[high]!r}"


def _index_violation(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    loc = m.pick(instance, lambda loc: "x-index-into" in loc.node)
    items: list[int] = _get(instance, loc.path)
    pointer = loc.node["x-index-into"]
    size = len(_get(instance, tuple(p for p in pointer.split("/") if p)))
    rng = m.rng
    bad = rng.choice([size, size, size + 1, size + rng.randrange(1, 1000), 2**31 - 1,
                      2**31, 2**32, INT64_MAX])
    items[rng.randrange(len(items))] = bad
    if rng.random() < 0.2:
        items.append(bad)
    return m.dump(instance), f"{_show(loc.path)} has {bad} into {pointer} of {size}"


def _base64_violation(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    loc = m.pick(instance, lambda loc: loc.node.get("contentEncoding") == "base64")
    rng = m.rng
    cap = loc.node.get("x-max-decoded-bytes", 1 << 16)
    data = rng.randbytes(rng.choice([1, 2, 4, 5, 7, 8, 31, 100]))
    good = base64.b64encode(data).decode()
    at = rng.randrange(len(good))
    how = rng.choice(["alphabet", "alphabet", "unpadded", "overpadded", "midpad", "length",
                      "whitespace", "urlsafe", "oversize"])
    if how == "alphabet":
        value = good[:at] + rng.choice("!*.,@#$%^&~é\u0000") + good[at + 1 :]
    elif how == "unpadded":
        value = base64.b64encode(rng.randbytes(rng.choice([1, 2, 4, 5, 31]))).decode().rstrip("=")
    elif how == "overpadded":
        value = good + rng.choice(["=", "==", "===", "===="])
    elif how == "midpad":
        value = good[: at - at % 4] + "=" + good[at - at % 4 :] if at >= 4 else "=" + good
    elif how == "length":
        value = good + rng.choice(["A", "AB", "ABC"])
    elif how == "whitespace":
        value = good[:at] + rng.choice([" ", "\n", "\r\n", "\t"]) + good[at:]
    elif how == "urlsafe":
        raw = bytes([0xFB, 0xFF, 0xBF]) * rng.randint(1, 5)
        value = base64.urlsafe_b64encode(raw).decode()
    else:
        value = base64.b64encode(rng.randbytes(cap + rng.choice([1, 2, 3, 4096]))).decode()
    return m.dump(m.put(instance, loc, value)), f"{_show(loc.path)} base64 {how}"


def _pattern_violation(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    loc = m.pick(instance, lambda loc: "pattern" in loc.node)
    pattern = loc.node["pattern"]
    good, rng = m.fuzz.from_pattern(pattern), m.rng
    at = rng.randrange(max(1, len(good)))
    options = [
        good.upper(),
        good[:at] + good[at + 1 :],
        good + good[at:at + 1],
        good[:at] + rng.choice("gGzZ -_.é\u0660\uff10") + good[at + 1 :],
        good + "\n",
        "\n" + good,
        good + " ",
        good + "\u0000",
        good[:at] + rng.choice("ABCDEF") + good[at + 1 :],
    ]
    options = [o for o in options if not pattern_matches(pattern, o)]
    value = rng.choice(options)
    return m.dump(m.put(instance, loc, value)), f"{_show(loc.path)} <- {value!r:.30}"


def _truncated_json(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    text = m.dump(instance)
    end = text.rindex(b"}")
    cut = m.rng.choice([end, end, m.rng.randrange(1, end), m.rng.randrange(end)])
    return text[:cut], f"cut at {cut} of {len(text)}"


def _not_an_object(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    text = m.dump(instance)
    payload = m.rng.choice(
        [b"[" + text + b"]", b"[]", b"1", b"0", b"-1.5", b"1e400", b"true", b"false", b"null",
         json.dumps(text.decode("utf-8")).encode(), b'"camera"', b"[{}]"]
    )
    return payload, f"top-level {payload[:20]!r}"


def _trailing_garbage(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    text = m.dump(instance)
    tail = m.rng.choice([b"x", b"}", b"]", b",", b"{}", b"[]", b"\x00", b" 1", b"null", b"//c",
                         b"/**/", b"\n" + text, text, b"\xff", b";", b"\x1a", b" ,"])
    return text + tail, f"then {tail[:20]!r}"


def _raw_control_char(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    """JSON strings must escape U+0000..U+001F; a raw one is not JSON."""
    loc = m.pick(instance, lambda loc: loc.node.get("type") == "string")
    text: str = _get(instance, loc.path)
    cut = m.rng.randint(0, len(text))
    char = m.rng.choice([0x00, 0x01, 0x08, 0x09, 0x0A, 0x0D, 0x1B, 0x1F])
    token = json.dumps(text[:cut])[:-1] + chr(char) + json.dumps(text[cut:])[1:]
    where = _show(loc.path)
    return m.dump(m.put(instance, loc, m.writer.raw(token))), f"{where} has raw U+{char:04X}"


def _lenient_syntax(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    """What lenient parsers take and JSON does not: comments, trailing commas, single
    quotes, bare keys, leading zeros and other number spellings."""
    rng, w = m.rng, m.writer
    how = rng.choice(
        ["number", "number", "quote", "bare_key", "trailing_comma", "comment", "whitespace"]
    )
    if how == "whitespace":  # JSON whitespace is space, tab, LF and CR only
        space = rng.choice([b"\x0b", b"\x0c", b"\xc2\xa0", b"\xe2\x80\xa8", b"\x00", b"\x1c"])
        dumped = m.dump(instance)
        cut = dumped.index(b":") + 1
        payload = rng.choice([space + dumped, dumped + space, dumped[:cut] + space + dumped[cut:]])
        return payload, f"whitespace {space!r}"
    if how == "number":
        loc = m.pick(instance, lambda loc: loc.node.get("type") in ("integer", "number"))
        token = rng.choice(["01", "00", "-01", "+1", ".5", "1.", "0x10", "1_0", "1e", "-",
                            "--1", "1.e3", "0.e1", "1e+", "0b1", "\u0661"])
    elif how == "quote":  # single quotes, or an escape JSON does not have
        loc = m.pick(instance, lambda loc: loc.node.get("type") == "string")
        value: str = json.dumps(_get(instance, loc.path))[1:-1]
        bad = rng.choice(["\\'", "\\x41", "\\u12G4", "\\a", "\\0", "\\U00000041", "\\u00eG"])
        at = rng.randint(0, len(value))
        while at and value[at - 1] == "\\":  # do not split an escape
            at -= 1
        token = rng.choice(["'" + value.replace("'", "") + "'", f'"{value[:at]}{bad}{value[at:]}"'])
    elif how == "bare_key":
        loc = m.pick(instance, lambda loc: bool(_get(instance, loc.path)) and isinstance(
            _get(instance, loc.path), dict), root=True)
        obj = _get(instance, loc.path)
        name = rng.choice(list(obj))
        bare = {w._sentinel(name.encode()) if k == name else k: v for k, v in obj.items()}
        return m.dump(_set(instance, loc.path, bare)), f"{_show(loc.path)} bare key {name}"
    elif how == "trailing_comma":
        loc = m.pick(instance, lambda loc: isinstance(_get(instance, loc.path), dict | list)
                     and bool(_get(instance, loc.path)))
        text = json.dumps(_get(instance, loc.path))
        token = text[:-1] + rng.choice([",", ", ", ",,"]) + text[-1]
    else:
        loc = m.pick(instance, lambda _: True)
        text = json.dumps(_get(instance, loc.path))
        token = rng.choice([f"/* c */ {text}", f"{text} // c\n", f"# c\n{text}"])
    return m.dump(m.put(instance, loc, w.raw(token))), f"{_show(loc.path)} <- {token[:30]!r}"


def _base64_noncanonical(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    """Padded base64 whose unused low bits are not zero ("QR==" for "A"): RFC 4648 lets a
    decoder reject it or not; the contract's two sides must make the same choice."""
    loc = m.pick(instance, lambda loc: loc.node.get("contentEncoding") == "base64")
    good = base64.b64encode(m.rng.randbytes(m.rng.choice([1, 2, 4, 5, 31, 32]))).decode()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = good.rstrip("=")[-1]
    spare = 0b1111 if good.endswith("==") else 0b11
    bits = alphabet.index(last)
    flipped = alphabet[(bits & ~spare) | m.rng.randint(1, spare)]
    value = good.rstrip("=")[:-1] + flipped + "=" * (len(good) - len(good.rstrip("=")))
    return m.dump(m.put(instance, loc, value)), f"{_show(loc.path)} <- {value[-8:]!r}"


def _double_rounding(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    """A decimal a quarter ulp beyond a bound (or beyond the other end of an x-ordered pair):
    out of range for exact arithmetic, on the bound once read as a double. Both sides read
    JSON numbers as doubles, so they must at least agree."""
    def bounded(loc: Loc) -> bool:
        return loc.node.get("type") == "number" and ("minimum" in loc.node or "maximum" in loc.node)

    rng = m.rng
    ordered = [loc for loc in m.fuzz.locations(instance) if loc.node.get("x-ordered")]
    if ordered and rng.random() < 0.4:
        loc = rng.choice(ordered)
        obj = _get(instance, loc.path)
        low, high = rng.choice(loc.node["x-ordered"])
        top = float(obj[high]) if obj[high] < 1e300 else 1e300
        obj[high] = top
        nudge = Decimal(math.ulp(top)) / 4 if top else Decimal("1e-400")
        token = str(Decimal(top) + nudge)
        instance = _set(instance, (*loc.path, low), m.writer.raw(token))
        return m.dump(instance), f"{_show(loc.path)} {low}={token[:30]} vs {high}={top!r}"
    loc = m.pick(instance, bounded)
    if "maximum" in loc.node and (rng.random() < 0.5 or "minimum" not in loc.node):
        edge = float(loc.node["maximum"])
        token = str(Decimal(edge) + Decimal(math.ulp(edge)) / 4)
    else:
        edge = float(loc.node["minimum"])
        token = str(Decimal(edge) - (Decimal(math.ulp(edge)) / 4 if edge else Decimal("1e-400")))
    return m.dump(m.put(instance, loc, m.writer.raw(token))), f"{_show(loc.path)} <- {token[:30]}"


def _byte_order_mark(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    return b"\xef\xbb\xbf" + m.dump(instance), "UTF-8 BOM before the object"


def _lone_surrogate(m: _Mutator, instance: Json) -> tuple[bytes | None, str]:
    loc = m.pick(instance, _plain_string)
    text: str = _get(instance, loc.path)
    text = text[: max(0, loc.node.get("maxLength", 1 << 30) - 2)]  # room for two escapes
    escape = m.rng.choice(["\\ud800", "\\udfff", "\\udc00\\ud83d", "\\ud83d"])
    cut = m.rng.randint(0, len(text))
    token = json.dumps(text[:cut])[:-1] + escape + json.dumps(text[cut:])[1:]
    return m.dump(m.put(instance, loc, m.writer.raw(token))), f"{_show(loc.path)} has {escape}"


MUTATIONS: dict[str, Mutation] = {
    "wrong_type": _wrong_type,
    "out_of_range": _out_of_range,
    "missing_required": _missing_required,
    "extra_field": _extra_field,
    "long_string": _long_string,
    "nan_infinity": _nan_infinity,
    "deep_nesting": _deep_nesting,
    "invalid_utf8": _invalid_utf8,
    "empty_and_null": _empty_and_null,
    "enum_violation": _enum_violation,
    "order_violation": _order_violation,
    "index_violation": _index_violation,
    "base64_violation": _base64_violation,
    "pattern_violation": _pattern_violation,
    "truncated_json": _truncated_json,
    "not_an_object": _not_an_object,
    "trailing_garbage": _trailing_garbage,
    "raw_control_char": _raw_control_char,
    "lenient_syntax": _lenient_syntax,
    "duplicate_key": _duplicate_key,
    "byte_order_mark": _byte_order_mark,
    "lone_surrogate": _lone_surrogate,
    "base64_noncanonical": _base64_noncanonical,
    "double_rounding": _double_rounding,
}
assert set(MUTATIONS) == set(MUTATION_KINDS)


def load_schema(path: Path = SCHEMA_PATH) -> Node:
    schema: Node = json.loads(path.read_text(encoding="utf-8"))
    return schema


def iter_cases(
    count: int,
    seed: int,
    valid_share: float = 0.25,
    schema_path: Path = SCHEMA_PATH,
    kinds: Sequence[str] = MUTATION_KINDS,
) -> Iterator[Case]:
    """``count`` cases of the schema at ``schema_path``: about ``valid_share`` valid, the rest
    spread evenly over the mutation classes ``kinds``, in a seeded random order."""
    rng = random.Random(seed)
    fuzz = SchemaFuzzer(load_schema(schema_path), rng)
    valid = round(count * valid_share)
    drawn = [VALID] * valid + [kinds[i % len(kinds)] for i in range(count - valid)]
    rng.shuffle(drawn)
    for number, kind in enumerate(drawn):
        case = _one_case(fuzz, rng, number, kind)
        if case is None:
            raise RuntimeError(f"no instance could carry a {kind} mutation")
        yield case


def _one_case(fuzz: SchemaFuzzer, rng: random.Random, number: int, kind: str) -> Case | None:
    """A case of ``kind``, or None when 200 instances could not carry that mutation."""
    for _ in range(200):
        mutator = _Mutator(fuzz, rng, long_numbers=kind == VALID)
        instance = fuzz.valid()
        payload: bytes | None
        try:
            if kind == VALID:
                payload, what = mutator.dump(instance), "valid instance"
            else:
                payload, what = MUTATIONS[kind](mutator, instance)
        except _Retry:
            continue
        return Case(f"{number}:{kind}: {what}", kind, payload)
    return None


def applicable_kinds(schema_path: Path, seed: int) -> tuple[str, ...]:
    """The mutation classes a schema has room for (a schema without base64 fields cannot
    carry a base64 violation): each is tried on up to 200 valid instances."""
    rng = random.Random(seed)
    fuzz = SchemaFuzzer(load_schema(schema_path), rng)
    return tuple(k for k in MUTATION_KINDS if _one_case(fuzz, rng, 0, k) is not None)


def build_cases(count: int, seed: int, **options: Any) -> list[Case]:
    """`iter_cases` as a list (same options)."""
    return list(iter_cases(count, seed, **options))
