"""Where case (c)'s time goes, part by part, and what a sort fused with the CSV reader would save.

``python -m benchmarks.sort_parts [ROWS]`` (default 1,000,000) prints the CPU seconds of each
part of ``load -> sort_rows -> dump`` run on its own in this process (best of 2), the item
encoding and decoding both with the C module and in pure Python, then the same load + sort +
decode done two ways: today's (typed dict rows encoded into sort items) and a prototype that
builds the items straight from the CSV records (the key cast from the record, the payload the
raw record joined, each row cast again after the sort). The prototype is not in the library:
it measured how much such a fused path could save (13 % in pure Python; with the C module,
today's way is faster). See results/perf_round2.md.
"""

from __future__ import annotations

import csv
import struct
import sys
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from itertools import count, islice
from typing import Any
from unittest import mock

from tableschema import Schema

from dataflows_factory.processors import _sortitems
from dataflows_factory.processors._casting import csv_row_reader, field_casters
from dataflows_factory.processors._sortitems import ItemCodec
from dataflows_factory.processors.dump import _CSVWriter
from dataflows_factory.processors.sort import key_source, plain_key_fields

from .generate import generate

SCHEMA = Schema({"fields": [{"name": "id", "type": "integer"}, {"name": "city", "type": "string"},
                            {"name": "country", "type": "string"}, {"name": "population", "type": "integer"},
                            {"name": "date", "type": "date"}, {"name": "value", "type": "number"}]})
KEY = "{country}{population}"
BLOCK = 1024
_PACK = struct.Struct(">d").pack
_INVERT = bytes(b ^ 0xFF for b in range(256))


def _cpu(function: Callable[[], Any], rounds: int = 2) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(rounds):
        start = time.process_time()
        result = function()
        best = min(best, time.process_time() - start)
    return best, result


def _blocks(items: list[Any]) -> list[list[Any]]:
    return [items[i:i + BLOCK] for i in range(0, len(items), BLOCK)]


def parts(src: str) -> None:
    read = csv_row_reader(field_casters(SCHEMA), None)
    seconds, rows = _cpu(lambda: list(read(src, None, None)))
    print(f"read + cast into dict rows (typed_rows)   {seconds:6.2f} s")
    for name, c in (("C module", _sortitems._c), ("Python", None)):
        with mock.patch.object(_sortitems, "_c", c):
            seconds, items = _cpu(lambda: encoded(ItemCodec(key_source(KEY), plain_key_fields(KEY)), rows))
            print(f"encode into sort items ({name:8})        {seconds:6.2f} s")
            ordered, codec = sorted(items), ItemCodec(key_source(KEY), plain_key_fields(KEY))
            encoded(codec, rows[:BLOCK])  # the decoder of the shape
            seconds, _ = _cpu(lambda codec=codec, ordered=ordered: [
                len(codec.decode_block(b)) for b in _blocks(ordered)])
            print(f"decode into dict rows ({name:8})         {seconds:6.2f} s")
    seconds, _ = _cpu(lambda: sorted(items))
    print(f"list.sort of the items                    {seconds:6.2f} s")
    items.sort()
    rows = [r for b in _blocks(items) for r in codec.decode_block(b)]
    writer = _CSVWriter(SCHEMA, validate="cities")
    seconds, _ = _cpu(lambda: [writer.write_block(b, 0) or writer.take() for b in _blocks(rows)])
    print(f"write the CSV text (write_block)          {seconds:6.2f} s")


def encoded(codec: ItemCodec, rows: list[Any]) -> list[bytes]:
    """The items of ``rows``, a block at a time (the first block per row: it compiles the shape)."""
    return [item for n, block in enumerate(_blocks(rows)) for item in codec.encode_block(block, n * BLOCK)]


def today(src: str) -> int:
    read = csv_row_reader(field_casters(SCHEMA), None)
    codec = ItemCodec(key_source(KEY), plain_key_fields(KEY))
    rows, items, start = read(src, None, None), [], 0
    while block := list(islice(rows, BLOCK)):
        items += codec.encode_block(block, start)
        start += len(block)
    items.sort()
    return sum(len(codec.decode_block(b)) for b in _blocks(items))


def fused(src: str) -> int:
    # Every value is cast before the sort (a bad value fails at its row, as today), the key
    # from the cast population; the item keeps the raw record, cast again after the sort.
    iso, items = date.fromisoformat, []
    with open(src, encoding="utf-8") as handle:
        records = csv.reader(handle)
        next(records)
        start = 0
        while block := list(islice(records, BLOCK)):
            items += [
                (key + (_PACK(float(v)).translate(_INVERT).hex() if v < 0 else _PACK(-float(v)).hex())
                 ).encode("utf-8", "surrogatepass") + b"%08x\0\0" % n + joined.encode()
                for n, (a, b, key, d, e, f) in zip(count(start), block, strict=False)
                if (int(a), (v := int(d)), iso(e), Decimal(f))
                and (joined := "\x1f".join((a, b, key, d, e, f))).count("\x1f") == 5]
            start += len(block)
    items.sort()
    done = 0
    for block in _blocks(items):
        done += len([{"id": int(a), "city": b, "country": c, "population": int(d), "date": iso(e),
                      "value": Decimal(f)}
                     for a, b, c, d, e, f in (x.partition(b"\0\0")[2].decode().split("\x1f") for x in block)])
    return done


def main(argv: list[str]) -> None:
    rows = int(argv[0]) if argv else 1_000_000
    src = generate(rows)
    print(f"case (c) by part, {rows:,} rows, CPU seconds (best of 2):")
    parts(src)
    print("load + sort + decode:")
    for name, function in (("today (dict rows -> items)", today), ("fused with the CSV reader", fused)):
        seconds, done = _cpu(lambda function=function: function(src))
        print(f"  {name:28} {seconds:6.2f} s ({done:,} rows)")


if __name__ == "__main__":
    main(sys.argv[1:])
