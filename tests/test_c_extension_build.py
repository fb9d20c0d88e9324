"""The install builds the sort's optional C extension (hatch_build.py).

The nox environments install the package editable with ``DFF_C_EXTENSION=require``: the module
imports, and it is the one compiled next to its C source (not a leftover in site-packages).
"""

from __future__ import annotations

import importlib
import sysconfig
from pathlib import Path


def test_c_extension_is_built_next_to_its_source() -> None:
    module = importlib.import_module("dataflows_factory.processors._sortitems_c")
    assert module.__file__ is not None
    path = Path(module.__file__)
    assert path.name == "_sortitems_c" + sysconfig.get_config_var("EXT_SUFFIX")
    assert path.with_name("_sortitems_c.c").is_file(), f"{path} is not next to _sortitems_c.c"
