"""Hatchling build hook: compile the optional C accelerator of the sort processor.

``dataflows_factory/processors/_sortitems_c.c`` uses the plain CPython C API, and the package
falls back to pure Python when it cannot import it. ``DFF_C_EXTENSION`` says what to do:

- ``auto`` (default): build it; when compiling fails, warn and install pure Python;
- ``require``: a failed compile fails the build, with the compiler's output (the nox sessions);
- ``off``: do not build it: pure Python.

A wheel gets the module compiled in a temporary directory (force-included, and the wheel gets
a platform tag); an editable install writes it next to the ``.c`` in the source tree, where the
editable's ``.pth`` (the project root on ``sys.path``) finds it. The compiler and flags are those
the building Python was built with (``sysconfig``), ``CC``, ``CFLAGS`` and ``LDFLAGS`` from the
environment taking precedence or adding to them as with setuptools.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MODULE = "dataflows_factory/processors/_sortitems_c"
MODES = ("auto", "require", "off")


class CExtensionBuildHook(BuildHookInterface):
    """Compiles ``MODULE`` for wheels and editable installs (not for the sdist: it ships the C)."""

    temporary: str | None = None

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        mode = os.environ.get("DFF_C_EXTENSION", "").strip().lower() or "auto"
        if mode not in MODES:
            # A typo must not quietly become `auto` (and CI run pure Python).
            raise ValueError(f"DFF_C_EXTENSION={mode!r}: expected one of {', '.join(MODES)}")
        if mode == "off":
            self.app.display_info("DFF_C_EXTENSION=off: installing the pure Python sort only")
            return
        target = MODULE + sysconfig.get_config_var("EXT_SUFFIX")
        if version == "editable":
            output = Path(self.root, target)
        else:
            # Not in the source tree: a wheel for another Python must not leave its module there.
            self.temporary = tempfile.mkdtemp(prefix="dff-c-extension-")
            output = Path(self.temporary, Path(target).name)
        error = compile_extension(Path(self.root, f"{MODULE}.c"), output)
        if error is not None:
            self.remove_temporary()  # finalize() does not run after a failure
            message = f"could not compile the C extension {target}:\n{error}"
            if mode == "require":
                raise RuntimeError(f"DFF_C_EXTENSION=require and {message}")
            if output.exists():  # editable: the module built before is what Python imports
                fallback = f"the {output.name} built before stays in the source tree, and is imported"
            else:
                fallback = "installing the pure Python sort only"
            self.app.display_warning(
                f"WARNING: {message}\nDFF_C_EXTENSION=auto: {fallback}; "
                "set DFF_C_EXTENSION=require to fail instead, or off to skip the compiler"
            )
            return
        self.app.display_info(f"built the C extension {target}")
        if version != "editable":
            build_data["force_include"][str(output)] = target
            build_data["pure_python"] = False
            build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        self.remove_temporary()

    def remove_temporary(self) -> None:
        if self.temporary is not None:
            shutil.rmtree(self.temporary, ignore_errors=True)
            self.temporary = None


def compile_extension(source: Path, output: Path) -> str | None:
    """Compile and link ``source`` into ``output`` in one compiler call; return None, or the
    command and its output when it failed. ``output`` is replaced atomically: processes that
    have the old module loaded (tests running from the source tree) keep their copy."""
    config = sysconfig.get_config_var
    compiler = os.environ.get("CC") or config("CC")
    linker = config("LDSHARED")
    if not compiler or not linker:  # Windows: no compiler settings in sysconfig
        return "this Python's sysconfig names no C compiler (CC, LDSHARED)"
    partial = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    command = [
        *shlex.split(compiler),
        *shlex.split(config("CFLAGS") or ""),
        *shlex.split(config("CCSHARED") or ""),
        *shlex.split(os.environ.get("CFLAGS", "")),
        f"-I{sysconfig.get_paths()['include']}",
        str(source),
        *shlex.split(linker)[1:],  # its flags (-shared, or -bundle on macOS), with our compiler
        *shlex.split(os.environ.get("LDFLAGS", "")),
        "-o",
        str(partial),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            return f"$ {shlex.join(command)}\n{result.stdout}{result.stderr}(exit status {result.returncode})"
        os.replace(partial, output)
    except OSError as error:  # no compiler, or an unwritable directory
        return f"$ {shlex.join(command)}\n{error}"
    finally:
        partial.unlink(missing_ok=True)
    return None
