"""``dff docs``: the static docs site, checked in a real headless chromium opened on file://.

The browser is Debian's ``chromium`` package (installed here when absent; a machine where it
cannot be installed fails these tests), driven by playwright without any browser download.
Screenshots land in ``test-artifacts/docs-site/`` for people to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
from click.testing import CliRunner
from dataflows import Flow

from dataflows_factory import Factory, load_factory
from dataflows_factory.cli import main
from dataflows_factory.docs import build_site
from dataflows_factory.runner import run
from tests.conftest import ROOT, copy_example

# The module's shared fixture runs once: its tests stay on one xdist worker (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("docs-site")

ARTIFACTS = ROOT / "test-artifacts" / "docs-site"


def _chromium() -> str:
    """The chromium binary; installed with apt-get when missing, and a loud failure if that fails."""
    found = shutil.which("chromium")
    if found:
        return found
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        try:
            subprocess.run(command, check=True, capture_output=True, text=True, env=environment,
                           timeout=900)
        except (OSError, subprocess.SubprocessError) as error:
            output = getattr(error, "stderr", "") or ""
            pytest.fail(f"cannot install Debian's chromium for the docs site test "
                        f"({' '.join(command)}: {error}) {output[-2000:]}")
    found = shutil.which("chromium")
    if not found:
        pytest.fail("apt-get installed chromium, but no `chromium` is on PATH")
    return found


@dataclass
class World:
    """A world factory run twice (all good, then ``cities`` broken) and its built site."""

    factory: Factory
    site: Path


@pytest.fixture(scope="module")
def world_site(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Run the world factory, break ``cities`` and run again, then ``dff docs build``."""
    folder = tmp_path_factory.mktemp("docs")
    factory = load_factory(str(copy_example("world", folder)))
    assert run(factory, in_process=True, jobs=2, show_progress=False).ok
    with open(factory.root / "raw" / "cities.csv", "a", encoding="utf-8") as handle:
        handle.write("Atlantis,XX,lots,false\n")  # "lots" people: filter_rows cannot compare it
    assert not run(factory, in_process=True, jobs=2, show_progress=False).ok
    site = folder / "site"
    result = CliRunner().invoke(main, ["docs", "build", f"{factory.root / 'factory.py'}:factory",
                                       "--out", str(site)])
    assert result.exit_code == 0, result.output
    return World(factory, site)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless chromium (Debian's binary) driven by playwright."""
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    driver = sync_playwright().start()
    try:
        launched = driver.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()
    finally:
        driver.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; any script error on it fails the test."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == []


def _url(site: Path, page_name: str = "index.html") -> str:
    return (site / page_name).absolute().as_uri()


def _manifests(factory: Factory) -> list[dict[str, Any]]:
    store = factory.store()
    found = [store.read_json(f"{store.runs_url(factory.name)}/{name}")
             for name in store.list_runs(factory.name)]
    return sorted(found, key=lambda manifest: manifest["started_at"], reverse=True)


def test_graph_has_one_clickable_node_per_flow(world_site: World, page: Any):
    """The index graph has one node per flow and three edges (two data, one after=); clicking
    a node opens that flow's page."""
    page.goto(_url(world_site.site))
    nodes = page.locator("svg.graph a.node")
    assert sorted(nodes.evaluate_all("els => els.map(e => e.dataset.flow)")) == sorted(
        world_site.factory.flows)
    assert page.locator("svg.graph path.edge-data").count() == 2
    assert page.locator("svg.graph path.edge-after").count() == 1
    page.locator('svg.graph a.node[data-flow="key_metrics"]').click()
    page.wait_for_url("**/flows/key_metrics.html")
    assert page.locator("h1").inner_text().startswith("key_metrics")


def test_schema_rows_and_preview_match_the_dataset(world_site: World, page: Any):
    """The key_metrics page lists the stored dataset's fields (name, type) in order and
    previews its rows, the first one as the dataset has it."""
    factory = world_site.factory
    descriptor = factory.store().read_descriptor(factory.name, "key_metrics")
    assert descriptor is not None
    fields = descriptor["resources"][0]["schema"]["fields"]
    page.goto(_url(world_site.site, "flows/key_metrics.html"))
    cells = page.locator("table.schema tbody tr").evaluate_all(
        "rows => rows.map(r => [r.cells[0].textContent, r.cells[1].textContent])")
    assert cells == [[f["name"], f["type"]] for f in fields]
    preview = page.locator("table.preview tbody tr")
    assert preview.count() == descriptor["count_of_rows"] == 15
    first = preview.first.locator("td").all_inner_texts()
    assert first[:2] == ["AR", "Argentina"]
    assert page.locator('tr[data-fact="validation"] .status').inner_text() == "valid"


def test_runs_show_the_failure_with_its_error_line_and_the_earlier_success(world_site: World,
                                                                          page: Any):
    """The cities page shows its last run failed, with the manifest's one-line error, and the
    run before it succeeded; the downstream flow shows upstream_failed."""
    latest = _manifests(world_site.factory)[0]
    error_line = latest["steps"]["cities"]["error"]["text"].splitlines()[0]
    page.goto(_url(world_site.site, "flows/cities.html"))
    rows = page.locator("table.runs tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).locator(".status").inner_text() == "failed"
    assert rows.nth(0).locator("td.error").inner_text() == error_line
    assert "flow 'cities'" in error_line
    assert rows.nth(1).locator(".status").inner_text() == "succeeded"
    page.goto(_url(world_site.site))
    statuses = dict(page.locator("table.flows tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.flow, r.querySelector('.status').textContent])"))
    assert statuses == {"countries": "skipped", "cities": "failed",
                        "key_metrics": "upstream_failed", "publish": "upstream_failed"}


def test_search_box_filters_flows_and_fields_as_you_type(world_site: World, page: Any):
    """Typing a field name lists that field and leaves only its flow in the table; the
    result links to the field on the flow page; clearing the box shows every flow again."""
    page.goto(_url(world_site.site))
    visible = "rows => rows.filter(r => !r.hidden).map(r => r.dataset.flow)"
    page.locator("#search").press_sequentially("urban_sh")
    assert page.locator("table.flows tbody tr").evaluate_all(visible) == ["key_metrics"]
    result = page.locator("#search-results li.result-field a")
    assert result.all_inner_texts() == ["urban_share"]
    page.locator("#search").fill("boolean")  # a field type: capital in cities
    assert page.locator("table.flows tbody tr").evaluate_all(visible) == ["cities"]
    page.locator("#search").fill("")
    assert len(page.locator("table.flows tbody tr").evaluate_all(visible)) == 4
    page.locator("#search").fill("urban_share")
    page.locator("#search-results li.result-field a").click()
    page.wait_for_url("**/flows/key_metrics.html#field-key_metrics-urban_share")
    assert page.locator("#field-key_metrics-urban_share td").first.inner_text() == "urban_share"


def test_screenshots_of_the_index_and_a_flow_page(world_site: World, page: Any):
    """Screenshots of the index and the key_metrics page are written as non-empty PNGs."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shots = {"index.png": "index.html", "flow-key_metrics.png": "flows/key_metrics.html",
             "flow-cities.png": "flows/cities.html"}
    for name, page_name in shots.items():
        page.goto(_url(world_site.site, page_name))
        page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    for name in shots:
        data = (ARTIFACTS / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
        print(f"docs site screenshot: {ARTIFACTS / name}")


def test_remote_store_site_shows_datasets_and_flows_never_run(tmp_path: Path):
    """With an fsspec (memory://) store, a site shows the one flow run (rows, preview, run)
    and "not produced yet" for the others; building twice gives identical files."""
    factory = load_factory(str(copy_example("world", tmp_path)))
    store = f"memory://docs-site-{os.getpid()}/store"
    assert run(factory, select="countries", store=store, in_process=True, show_progress=False).ok
    first = build_site(factory, tmp_path / "a", store=store)
    second = build_site(factory, tmp_path / "b", store=store)
    files = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_file())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    countries = (first / "flows" / "countries.html").read_text(encoding="utf-8")
    assert countries.count("<tr><td>") == 15  # preview rows
    assert 'class="status status-succeeded"' in countries
    for name in ("cities", "key_metrics", "publish"):
        assert "not produced yet" in (first / "flows" / f"{name}.html").read_text(encoding="utf-8")


def test_pages_escape_markup_and_hide_credentials(tmp_path: Path):
    """A description with markup and a credential URL is shown escaped, the secret masked."""
    factory = Factory("escaping", store=tmp_path / "data", root=tmp_path)

    @factory.flow(description="<script>alert(1)</script> from https://ada:s3cr3t@example.com/x.csv")
    def sneaky() -> Flow:
        return Flow([{"a": 1}])

    site = build_site(factory, tmp_path / "site")
    html = (site / "flows" / "sneaky.html").read_text(encoding="utf-8")
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert" not in html + index and "s3cr3t" not in html + index
    search = json.loads(index.split('id="search-index">', 1)[1].split("</script>", 1)[0])
    assert [entry["label"] for entry in search] == ["sneaky"]


def test_build_refuses_a_folder_that_is_not_a_docs_site(tmp_path: Path, world_file: Path):
    """dff docs build into a non-empty folder it did not build exits 2 and deletes nothing."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine", encoding="utf-8")
    result = CliRunner().invoke(main, ["docs", "build", str(world_file), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "not empty and holds no docs site" in result.output
    assert (tmp_path / "out" / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_serve_answers_on_loopback_and_stops_cleanly_on_ctrl_c(world_file: Path, tmp_path: Path):
    """dff docs serve --port 0 serves index.html on 127.0.0.1; SIGINT stops it with exit 0."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dataflows_factory", "docs", "serve", str(world_file), "--port", "0",
         "--out", str(tmp_path / "site")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"})
    try:
        assert process.stdout is not None
        line = ""
        while "serving on" not in line:
            line = process.stdout.readline()
            assert line, process.stderr.read() if process.stderr else "serve exited"
        address = line.split("serving on ", 1)[1].split()[0]
        assert address.startswith("http://127.0.0.1:")
        with urlopen(address + "index.html", timeout=10) as response:
            assert response.status == 200
            assert "factory world" in response.read().decode("utf-8")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "stopped" in out


PARTITIONED = '''
from dataflows import Flow, load
from dataflows_factory import Factory
from dataflows_factory.partitions import files

factory = Factory("parts", store="data")

@factory.flow(partitions=files("raw/*.csv"))
def sales(partition):
    """Sales, one partition per file."""
    return Flow(load(partition, name="sales"))
'''


def test_a_failed_partition_fails_its_flow_with_the_partition_named(tmp_path: Path):
    """When one partition of a flow fails, the flow's run shows failed, how many partitions
    were fine, and the failed partition's error line; the page lists the partitions."""
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "x.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (tmp_path / "raw" / "y.csv").write_text("a,b\n3,4\n", encoding="utf-8")
    (tmp_path / "factory.py").write_text(PARTITIONED, encoding="utf-8")
    factory = load_factory(str(tmp_path / "factory.py"))
    assert run(factory, in_process=True, show_progress=False).ok
    (tmp_path / "raw" / "y.csv").write_text("a,b\n3,4,5\n", encoding="utf-8")
    report = run(factory, in_process=True, show_progress=False)
    error = report.results["sales[raw/y.csv]"].error
    assert error is not None
    html = (build_site(factory, tmp_path / "site") / "flows" / "sales.html").read_text(encoding="utf-8")
    runs = html.split('<table class="runs">', 1)[1]
    newest, older = runs.split("<tr data-run=")[1:3]
    assert 'status-failed">failed' in newest and "1 of 2 partitions ok" in newest
    assert escape(error["text"].splitlines()[0]) in newest
    assert 'status-succeeded">succeeded' in older and "2 of 2 partitions ok" in older
    assert "<code>raw/x.csv</code>, <code>raw/y.csv</code>" in html


def test_no_validate_reads_no_rows_and_says_not_checked(tmp_path: Path, world_file: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    """dff docs build --no-validate never validates a dataset; each produced flow's page says
    'not checked' where a validated build says 'valid'."""
    assert run(str(world_file), show_progress=False).ok
    validated = CliRunner().invoke(main, ["docs", "build", str(world_file),
                                          "--out", str(tmp_path / "checked")])
    assert validated.exit_code == 0, validated.output

    def no_reading(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("validate_dataset called under --no-validate")

    monkeypatch.setattr("dataflows_factory.docs.model.validate_dataset", no_reading)
    result = CliRunner().invoke(main, ["docs", "build", str(world_file), "--out", str(tmp_path / "site"),
                                       "--no-validate"])
    assert result.exit_code == 0, result.output
    for flow in ("countries", "cities", "key_metrics"):
        checked = (tmp_path / "checked" / "flows" / f"{flow}.html").read_text(encoding="utf-8")
        unchecked = (tmp_path / "site" / "flows" / f"{flow}.html").read_text(encoding="utf-8")
        assert ">valid<" in checked and "not checked" not in checked
        assert "not checked" in unchecked and ">valid<" not in unchecked
