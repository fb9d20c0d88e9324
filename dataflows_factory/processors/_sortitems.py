"""Rows as sort items, and back: one ``bytes`` object per row, compared as its key.

A row dict costs several times its data (the dict, one object per value, a Decimal is 104
bytes). ``sort_rows`` holds each row as ``key + NUL NUL + payload`` instead:

- the key's UTF-8 bytes (code-point order, as strings compare), with NUL escaped as NUL 1,
  so the first NUL NUL ends every key and sorts below any key byte there: plain ``bytes``
  comparison of items is the string order of their keys;
- the payload: the values in field order, marshalled (version 4: exact for str, int, float,
  bool, None and bytes; against version 2, 20 % faster to write, as fast to read and 12
  bytes shorter for six fields, with its short-string and small-tuple codes), Decimals as
  their ``str`` and dates as their ordinal (both round-trip exactly), anything else
  pickled one by one. Field names and value kinds are stored once per *shape*, each row
  starts with its shape's number; a row that is not a plain dict with string keys is
  pickled whole.

Each shape gets generated code (key, checks, encoding and decoding in line, no per-field
loop): a row costs about a microsecond each way. Where the optional C module
``_sortitems_c`` is built (at install, from ``_sortitems_c.c``), it builds the very same items
for the common shapes (plain values, Decimals and dates, a key of plain ``{field}`` terms)
about 2.4x faster and decodes them 1.6x faster; it hands any block it does not handle back
to the generated code, so results and errors are the Python path's.
"""

from __future__ import annotations

import decimal
import marshal
import pickle
from collections.abc import Callable
from datetime import date
from itertools import count, repeat
from operator import itemgetter
from types import ModuleType
from typing import Any

_c: ModuleType | None
try:
    from . import _sortitems_c as _c
except ImportError:  # not built (pure-Python install): the generated code does it all
    _c = None

__all__ = ["SEPARATOR", "ItemCodec", "KeySource"]

SEPARATOR = b"\0\0"
# A key's Python expression over row fields (``field(name)`` gives each field's expression),
# and the names that expression needs.
KeySource = Callable[[Callable[[str], str]], tuple[str, dict[str, Any]]]

_FIRST, _THIRD = itemgetter(0), itemgetter(2)
_PLAIN = frozenset({str, int, float, bool, type(None), bytes})
# kind: (check of value ``a``, its encoding, decoding of encoded ``x``)
_KINDS = {
    "plain": ("type({a}) in PLAIN", "{a}", "{x}"),
    "decimal": ("(type({a}) is Decimal or {a} is None)", "(None if {a} is None else str({a}))",
                "(None if (x := {x}) is None else Decimal(x))"),
    "date": ("(type({a}) is date or {a} is None)", "(None if {a} is None else {a}.toordinal())",
             "(None if (x := {x}) is None else fromordinal(x))"),
    "pickle": ("True", "pdumps({a}, 5)", "ploads({x})"),
}
_NAMESPACE = {"PLAIN": _PLAIN, "Decimal": decimal.Decimal, "date": date, "fromordinal": date.fromordinal,
              "pdumps": pickle.dumps, "ploads": pickle.loads, "dumps": marshal.dumps}
_WHOLE = 0  # the shape number of rows pickled whole


def _item(key_expression: str, payload_expression: str) -> str:
    """The expression of an item: the key's bytes, NUL escaped, then the row number (dataflows'
    "{:08x}" key suffix, no NUL in it) and the separator, then the marshalled payload."""
    return (f"(h if 0 not in (h := ({key_expression}).encode('utf-8', 'surrogatepass')) "
            f"else h.replace(b'\\0', b'\\0\\1')) + b'%08x\\0\\0' % n + dumps({payload_expression}, 4)")


def _kind(value: Any) -> str:
    kind = type(value)
    if kind in _PLAIN:
        return "plain"
    if kind is decimal.Decimal:
        return "decimal"
    return "date" if kind is date else "pickle"


class _Mismatch(Exception):
    """A row of a block has another shape than the block's encoder."""


def _mismatch() -> bool:
    raise _Mismatch


def _source(number: int, names: tuple[str, ...], kinds: tuple[str, ...], key: KeySource) -> str:
    args = {name: f"a{i}" for i, name in enumerate(names)}
    key_expression, _ = key(lambda name: args.get(name) or f"row[{name!r}]")
    pairs = list(zip(kinds, args.values(), strict=True))
    checks = " and ".join(_KINDS[k][0].format(a=a) for k, a in pairs) or "True"
    values = "".join(_KINDS[k][1].format(a=a) + ", " for k, a in pairs)
    target = "".join(f"{a}, " for a in args.values())
    fields = ", ".join(f"{name!r}: " + _KINDS[k][2].format(x=a)
                       for name, (k, a) in zip(names, pairs, strict=True))
    item = _item(key_expression, f"({number}, {values})")
    # Per row (in a block of mixed shapes) and per block (a comprehension: no call per row).
    return (f"def encode(row, n):\n"  # a row of this very shape
            f"    ({target}) = row.values()\n"
            f"    return {item}\n"
            f"def encode_block(rows, start):\n"
            f"    if set(map(type, rows)) != DICT or not all(map(NAMES.__eq__, map(tuple, rows))):\n"
            f"        return None\n"
            f"    try:\n"
            f"        return [{item}\n"
            f"                for n, row, ({target}) in zip(count(start), rows, map(dict.values, rows))\n"
            f"                if {checks} or mismatch()]\n"
            f"    except Mismatch:\n        return None\n"
            f"def decode(v):\n    (_, {target}) = v\n    return {{{fields}}}\n"
            f"def decode_block(values):\n    return [{{{fields}}} for (_, {target}) in values]\n")


# The C module's code of each kind it handles (pickled values stay with Python).
_C_KINDS = {"plain": "p", "decimal": "d", "date": "t"}


class ItemCodec:
    """Turns the rows of one sort into items and items back into rows, a block at a time.

    ``key_fields``: the key's fields when it is made of plain ``{field}`` terms
    (``sort.plain_key_fields``), which lets the C module encode it; None leaves every row to
    the generated code.
    """

    def __init__(self, key: KeySource, key_fields: tuple[str, ...] | None = None) -> None:
        self._key = key
        self._key_fields = key_fields
        # Per shape number: (names, kinds) for the C decoder, None where Python decodes.
        self._c_shapes: list[tuple[tuple[str, ...], bytes] | None] = [None]
        self._shapes: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}
        whole = f"def encode(row, n):\n    return {_item('KEY(row)', f'({_WHOLE}, pdumps(row, 5))')}\n"
        self._encoders: list[Callable[[Any, int], bytes]] = [self._compile(whole, None)["encode"]]
        self._decoders: list[Callable[[Any], Any]] = [lambda v: pickle.loads(v[1])]
        self._block_decoders: list[Callable[[list[Any]], list[Any]]] = [
            lambda values: [pickle.loads(v[1]) for v in values]]
        self._block_encoders: list[Callable[[list[Any], int], list[bytes] | None]] = [lambda rows, n: None]
        self._current = self._block_encoders[0]  # the last shape's

    def _compile(self, source: str, names: tuple[str, ...] | None) -> dict[str, Any]:
        key_expression, key_namespace = self._key(lambda name: f"row[{name!r}]")
        namespace = {**_NAMESPACE, **key_namespace, "NAMES": names, "DICT": {dict}, "count": count,
                     "mismatch": _mismatch, "Mismatch": _Mismatch}
        namespace["KEY"] = eval(f"lambda row: {key_expression}", namespace)
        exec(compile(source, "<dff sort items>", "exec"), namespace)
        return namespace

    def encode_block(self, rows: list[Any], start: int) -> list[bytes]:
        """The items of ``rows``, the first being the ``start``-th row (key suffixes count on)."""
        items = self._current(rows, start)
        if items is None:  # another shape, or several
            items = [self._encode(row, row_num) for row_num, row in enumerate(rows, start)]
        return items

    def _encode(self, row: Any, row_num: int) -> bytes:
        if type(row) is not dict or not all(type(name) is str for name in row):
            return self._encoders[_WHOLE](row, row_num)
        shape = (tuple(row), tuple(map(_kind, row.values())))
        number = self._shapes.get(shape)
        if number is None:
            number = self._shapes[shape] = len(self._encoders)
            code = self._compile(_source(number, *shape, self._key), shape[0])
            self._encoders.append(code["encode"])
            self._block_encoders.append(self._c_block_encoder(number, *shape, code["encode_block"]))
            self._decoders.append(code["decode"])
            self._block_decoders.append(code["decode_block"])
        self._current = self._block_encoders[number]
        return self._encoders[number](row, row_num)

    def _c_block_encoder(self, number: int, names: tuple[str, ...], kinds: tuple[str, ...],
                         python: Callable[[list[Any], int], list[bytes] | None],
                         ) -> Callable[[list[Any], int], list[bytes] | None]:
        """The block encoder of a shape: the C module's where it handles the shape, falling
        back to ``python`` (the generated one) for any block it returns None for."""
        if _c is None or not set(kinds) <= _C_KINDS.keys():
            self._c_shapes.append(None)
            return python
        codes = "".join(_C_KINDS[kind] for kind in kinds).encode()
        self._c_shapes.append((names, codes))  # decoded in C, whatever the key
        fields = self._key_fields
        if fields is None or not set(fields) <= set(names):
            return python
        key = tuple(map(names.index, fields))
        encode = _c.encode_block

        def encode_block(rows: list[Any], start: int) -> list[bytes] | None:
            items: list[bytes] | None = encode(rows, start, names, codes, key, number)
            return python(rows, start) if items is None else items

        return encode_block

    def decode_block(self, items: list[bytes]) -> list[Any]:
        """The rows of ``items``."""
        if _c is not None and any(self._c_shapes):
            rows: list[Any] | None = _c.decode_block(items, self._c_shapes)
            if rows is not None:
                return rows
        values = list(map(marshal.loads, map(_THIRD, map(bytes.partition, items, repeat(SEPARATOR)))))
        numbers: set[int] = set(map(_FIRST, values))
        if len(numbers) == 1:
            return self._block_decoders[numbers.pop()](values)
        decoders = self._decoders
        return [decoders[v[0]](v) for v in values]
