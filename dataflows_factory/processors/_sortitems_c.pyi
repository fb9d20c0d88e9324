# The optional C module of ``_sortitems`` (``_sortitems_c.c``): None means "the Python code does this block".
from typing import Any

def encode_block(rows: list[Any], start: int, names: tuple[str, ...], kinds: bytes,
                 key: tuple[int, ...], number: int) -> list[bytes] | None: ...
def decode_block(items: list[bytes],
                 shapes: list[tuple[tuple[str, ...], bytes] | None]) -> list[dict[str, Any]] | None: ...
