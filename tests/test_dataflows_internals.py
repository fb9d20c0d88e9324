"""Private parts of dataflows and its libraries are used in one module, on pinned versions only."""

from __future__ import annotations

import io
import re
import tokenize
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from dataflows import Flow, load, sort_rows

from dataflows_factory import Factory, FlowExecutionError, _dataflows, load_factory, run_step
from dataflows_factory.flow import normalize_steps
from dataflows_factory.processors._adopt import enabled

PACKAGE = Path(__file__).resolve().parents[1] / "dataflows_factory"
HOME = "_dataflows"  # the one package whose modules touch private parts

# What touches private parts: name-mangled attributes, Flow's private methods, frames and
# closures of library code, the stdlib's private strptime cache, patched processor methods.
PRIVATE = {
    "Flow._chain()": r"\._chain\(",
    "DataStreamProcessor._process()": r"\._process\(",
    "a name-mangled attribute": r"\b_[A-Z][A-Za-z0-9]*__[A-Za-z]\w*",
    "a generator's frame": r"\bgi_(?:frame|code)\b",
    "closure inspection": r"\bgetclosurevars\b|\b__closure__\b",
    "the _strptime module": r"\b_strptime\b",
    "traceback frames": r"\btb_frame\b|\bf_locals\b",
    "a patched process_resource/process_datapackage": r"\.process_(?:resource|datapackage)\s*=(?!=)",
}
# (file, what) pairs allowed outside the one module, each with its reason.
ALLOWED = {
    # Hashing the user's own flow functions (their closures) is Python introspection of
    # user code, not of a library.
    ("_fingerprint.py", "closure inspection"),
}
WORLD_FLOWS = ("countries", "cities", "key_metrics", "publish")


@pytest.fixture
def fresh_check() -> Iterator[None]:
    """supported() recomputed for this test, and again for the tests after it."""
    _dataflows.supported.cache_clear()
    yield
    _dataflows.supported.cache_clear()


def _code_only(path: Path) -> str:
    """The file's code with comments and docstrings blanked out (strings in expressions stay:
    ``getattr(stream, "_Stream__parser")`` counts)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    previous = tokenize.NEWLINE
    for token in tokenize.generate_tokens(io.StringIO("".join(lines)).readline):
        docstring = token.type == tokenize.STRING and previous in _STATEMENT_START
        if token.type == tokenize.COMMENT or docstring:
            (first, start), (last, end) = token.start, token.end
            for row in range(first - 1, last):
                line = lines[row]
                left = start if row == first - 1 else 0
                right = end if row == last - 1 else len(line.rstrip("\n"))
                lines[row] = line[:left] + " " * (right - left) + line[right:]
        if token.type not in (tokenize.COMMENT, tokenize.NL):
            previous = token.type
    return "".join(lines)


# A string right after these is a statement of its own: a docstring.
_STATEMENT_START = {tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}


def _uses(path: Path) -> set[str]:
    code = _code_only(path)
    return {what for what, pattern in PRIVATE.items() if re.search(pattern, code)}


def _dataset_files(store: Path) -> dict[str, bytes]:
    """Every file of the stored datasets, descriptors without the run's own id and time."""
    files = {}
    for path in sorted(store.rglob("*")):
        if not path.is_file() or ".staging" in path.parts or path.suffix == ".lock":
            continue
        data = path.read_bytes()
        if path.name == "datapackage.json":
            data = re.sub(rb'"(run_id|produced_at)": "[^"]*"', rb'"\1": ""', data)
        files[str(path.relative_to(store))] = data
    return files


def _run_world(project: Path, store: Path) -> dict[str, bytes]:
    factory = load_factory(str(project))
    for flow in WORLD_FLOWS:
        assert run_step(factory, flow, store=str(store)).status == "succeeded"
    return _dataset_files(store)


def test_installed_versions_are_inside_the_supported_ranges(
        monkeypatch: pytest.MonkeyPatch, fresh_check: None) -> None:
    """Every pinned library's installed version is inside its declared range, so the fast paths are on."""
    monkeypatch.delenv("DFF_FAST_PATHS", raising=False)
    assert set(_dataflows.SUPPORTED) == {"dataflows", "tabulator", "tableschema", "datapackage"}
    for package, (low, high) in _dataflows.SUPPORTED.items():
        version = _dataflows.installed_version(package)
        assert version is not None, f"{package} is not installed"
        parsed = tuple(int(part) for part in re.findall(r"\d+", version)[:len(low)])
        assert low <= parsed < high, f"{package} {version} is outside {low}..{high}: verify, then widen"
    with warnings.catch_warnings():
        warnings.simplefilter("error", _dataflows.UnsupportedVersionWarning)
        assert _dataflows.supported() is True
    assert enabled() is True


def test_an_unsupported_version_warns_once_and_runs_plain_dataflows(
        tmp_path: Path, world_file: Path, monkeypatch: pytest.MonkeyPatch, fresh_check: None,
) -> None:
    """With dataflows at an unknown version: one warning naming it, plain steps, byte-identical datasets."""
    monkeypatch.delenv("DFF_FAST_PATHS", raising=False)
    project = world_file
    fast = _run_world(project, tmp_path / "fast")
    real = _dataflows.installed_version

    def pretend(package: str) -> str | None:
        return "0.9.1" if package == "dataflows" else real(package)

    monkeypatch.setattr(_dataflows._versions, "installed_version", pretend)
    _dataflows.supported.cache_clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        step = sort_rows("{code}")
        assert normalize_steps("f", [step]) == [step]  # dataflows' own closure, untouched
        plain = _run_world(project, tmp_path / "plain")
        assert enabled() is False
    ours = [w for w in caught if issubclass(w.category, _dataflows.UnsupportedVersionWarning)]
    assert len(ours) == 1, [str(w.message) for w in ours]
    message = str(ours[0].message)
    assert "dataflows 0.9.1" in message and ">=0.5.12,<0.5.13" in message
    assert plain.keys() == fast.keys() and any(name.endswith("key_metrics.csv") for name in plain)
    assert plain == fast


def test_an_unsupported_version_still_raises_flow_errors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_check: None) -> None:
    """Row tracking off (unknown dataflows) still reports a failing row function's error."""
    monkeypatch.setattr(_dataflows._versions, "installed_version", lambda package: "0.1")
    (tmp_path / "in.csv").write_text("id,value\n1,10\n2,-20\n3,30\n")
    factory = Factory("fail", store=tmp_path / "data", root=tmp_path)

    def check_value(row):
        if row["value"] < 0:
            raise ValueError(f"negative value {row['value']}")

    @factory.flow()
    def values():
        return Flow(load("in.csv", name="values"), check_value)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _dataflows.UnsupportedVersionWarning)
        with pytest.raises(FlowExecutionError, match="negative value -20") as caught:
            run_step(factory, "values")
    assert caught.value.flow == "values"
    assert not (tmp_path / "data" / "fail" / "values").exists()


def test_stream_installs_the_tracker_on_a_supported_version(fresh_check: None) -> None:
    """_dataflows.stream hands the linked chain to install before rows flow, then drains it."""
    seen: list[list[str]] = []
    rows: list[int] = []
    flow = Flow([{"n": 1}, {"n": 2}], lambda row: rows.append(row["n"]))
    _dataflows.stream(flow, lambda last: seen.append(
        [type(p).__name__ for p in _dataflows.processors_of(last)]))
    assert seen == [["iterable_loader", "row_processor"]]
    assert rows == [1, 2]


def test_private_parts_are_touched_only_in_one_module() -> None:
    """No module outside the _dataflows package uses private parts of dataflows or its libraries."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name.startswith(HOME + "/") or "blueprints/templates/" in name:
            continue
        uses = {what for what in _uses(path) if (name, what) not in ALLOWED}
        if uses:
            found[name] = sorted(uses)
    assert found == {}
    # The patterns do find what they look for: the one package uses every one of them.
    home = set().union(*(_uses(path) for path in (PACKAGE / HOME).glob("*.py")))
    assert home == set(PRIVATE)
