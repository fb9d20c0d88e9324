"""Test sessions, one virtual environment each (uv makes them fast).

Airflow and Prefect cannot share an environment (their FastAPI pins conflict), so each
orchestrator's tests run in their own session; ``nox`` with no arguments runs them all.
"""

from __future__ import annotations

import fcntl
import hashlib
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "core", "airflow", "airflow_external", "prefect", "dagster"]

PYTHON = "3.11"
# The core suite is CPU-bound and mostly one process at a time (hypothesis in process, the
# CLI tests waiting on one subprocess): two workers keep both cores busy. Tests go to
# whichever worker is free (a whole file per worker left one worker idle for minutes behind
# test_cli.py); a module with a costly shared fixture (the bad-input corpus) marks its tests
# with one xdist_group, which keeps them on one worker so the fixture runs once.
CORE_WORKERS = ("-n", "2", "--dist", "loadgroup")
# (pyproject.toml keeps pytest below 9.2: with 9.2 and pytest-xdist 3.8 every xdist_group was
# ignored, and each shared fixture, the 131-run bad-input corpus among them, ran on both workers.)

# Every install builds the package's optional C extension (hatch_build.py): here it must build,
# so that a compiler or C error fails the install instead of the tests quietly running the pure
# Python fallback.
BUILD_ENV = {"DFF_C_EXTENSION": "require"}
# A changed .c must be compiled again, but an installed package built from a directory can look
# up to date to the installer (its cache keys on pyproject.toml; nox documents that "the uv
# backend does not reinstall, even for local packages"). uv 0.13 does rebuild a source tree named
# on its command line; REBUILD says so explicitly rather than rely on that.
REBUILD = ("--reinstall-package", "dataflows-factory")


def install_key(commands: object) -> str:
    """The stamp of an environment: the install ``commands`` and what the package's build reads
    (pyproject.toml, the build hook and the C it compiles), so that editing any of them installs
    (and compiles) again."""
    digest = hashlib.sha256(repr(commands).encode())
    sources = sorted(map(str, Path("dataflows_factory").rglob("*.c")))
    for path in ["pyproject.toml", "hatch_build.py", *sources]:
        digest.update(f"\0{path}\0".encode() + Path(path).read_bytes())
    return digest.hexdigest()


def install(session: nox.Session, *extras: str, also: tuple[str, ...] = ()) -> None:
    """Install the package (editable) with the dev extra, ``extras`` and the requirements ``also``.

    Skipped when the environment was installed from this very pyproject.toml, build hook, C
    source and these arguments: even with every package cached, uv re-resolves against the index
    each time (15-30 s a session). The stamp lives inside the environment, so a fresh clone or a
    recreated environment always installs.
    """
    commands = [["-e", f".[{','.join(('dev', *extras))}]", *REBUILD]]
    if also:
        commands.append(list(also))
    # tableschema-sql still pulls the old `tabulator`, which shares its module with
    # dataflows-tabulator; uv unpacks in parallel, so make sure the right one wins.
    commands.append(["--reinstall-package", "dataflows-tabulator", "dataflows-tabulator"])
    key = install_key(commands)
    venv = Path(session.virtualenv.location)
    stamp = venv / ".dff-installed"
    # The package is installed editable: with PYTHONDONTWRITEBYTECODE every Airflow task,
    # CLI run and worker compiled the ~60 modules a task imports again (0.1-1 s a process by
    # load, benchmarks/results/task_start.md). Compile them each session (only changed files;
    # a stale file is compiled in memory as before).
    session.run_install("python", "-m", "compileall", "-qq", "dataflows_factory")
    if stamp.is_file() and stamp.read_text() == key:
        session.log("environment up to date with pyproject.toml and the C sources: nothing to install")
        return
    for command in commands:
        session.install(*command, env=BUILD_ENV)
    # uv writes no .pyc files, and where PYTHONDONTWRITEBYTECODE is set (as on our CI
    # machines) nothing ever does: every test subprocess (the CLI, Airflow's components
    # and tasks, Prefect's server) then compiles all it imports again, three times the
    # CPU of a start-up. Compile once here (-qq: a few packages ship py2-only files).
    session.run_install("python", "-m", "compileall", "-qq", "-j", "0", str(venv / "lib"),
                        success_codes=[0, 1])
    stamp.write_text(key)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff and mypy over the package (mypy sees every orchestrator's types via its extra)."""
    install(session, "lineage")  # mypy reads the OpenLineage client's types
    session.run("ruff", "check", "dataflows_factory", "tests", "examples", "benchmarks", "noxfile.py",
                "hatch_build.py")
    session.run("mypy", "dataflows_factory")


@nox.session(python=PYTHON)
def core(session: nox.Session) -> None:
    """The model, plan, step executor, store, runner, CLI, fast paths and reliability suite
    (S3 store tests need the s3 extra); no orchestrator installed."""
    install(session, "s3", "lineage")
    session.run("pytest", *CORE_WORKERS, "tests", "--ignore=tests/airflow", "--ignore=tests/prefect",
                "--ignore=tests/dagster", "--ignore=tests/airflow_external", *session.posargs)


@nox.session(python=PYTHON)
def airflow(session: nox.Session) -> None:
    """Airflow 3 provider, operator and DAG builder against a real scheduler."""
    # The tests keep Airflow's metadata in the machine's PostgreSQL: Airflow needs a sync
    # (psycopg2) and an async (asyncpg, for the API server) driver; users pick their own,
    # like their executor: the scale-out test runs CeleryExecutor (celery 5.7 dropped a
    # name the provider imports from celery.backends.database, hence the cap).
    install(session, "airflow", "s3", "lineage", also=("psycopg2-binary>=2.9", "asyncpg>=0.29",
                                            "apache-airflow-providers-celery>=3.10",
                                            "celery[redis]>=5.5,<5.7",
                                            # The operator's lineage facets are tested
                                            # through the provider's own listener.
                                            "apache-airflow-providers-openlineage>=2.0"))
    # The lineage test also runs flows with the flows' own interpreter (the external operator).
    session.run("pytest", "tests/airflow", "tests/conformance", *session.posargs,
                env={"DFF_FLOWS_PYTHON": flows_python(session)})


@nox.session(python=PYTHON)
def airflow_external(session: nox.Session) -> None:
    """Airflow WITHOUT dataflows runs DAGs built from compiled plans whose flows run with the
    interpreter of a second virtualenv (deployments where the two environments' pins conflict)."""
    # Airflow's side: the package without its dependencies, so `import dataflows` fails here.
    venv = Path(session.virtualenv.location)
    _uv_install(session, venv, ("apache-airflow>=3.0", "psycopg2-binary>=2.9", "asyncpg>=0.29",
                                "pytest>=8", "pytest-timeout>=2.3"), ("--no-deps", "-e", ".", *REBUILD))
    # --confcutdir: tests/conftest.py imports dataflows, which this environment must not have.
    session.run("pytest", "tests/airflow_external", "--confcutdir=tests/airflow_external",
                *session.posargs, env={"DFF_FLOWS_PYTHON": flows_python(session)})


def flows_python(session: nox.Session) -> str:
    """The flows' own environment: this package with its dependencies, and ``dagster-pipes``
    (the external side of Dagster Pipes), but no orchestrator. Airflow's external-interpreter
    tests and Dagster's Pipes tests run flows with its interpreter."""
    venv = Path(".nox", "flows").resolve()
    venv.parent.mkdir(parents=True, exist_ok=True)
    # `make test` runs sessions side by side: the first to get here builds the environment,
    # the others wait for it rather than install into it at the same time.
    with open(venv.parent / "flows.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / "bin" / "python").is_file():
            session.run_install("uv", "venv", "--quiet", "--python", PYTHON, str(venv), external=True)
        _uv_install(session, venv, ("-e", ".[lineage]", "dagster-pipes", *REBUILD),
                    ("--reinstall-package", "dataflows-tabulator", "dataflows-tabulator"))
    return str(venv / "bin" / "python")


def _uv_install(session: nox.Session, venv: Path, *commands: tuple[str, ...]) -> None:
    """``uv pip install`` each of ``commands`` into ``venv`` and compile its bytecode, skipped
    when done already from these sources (the stamp of :func:`install`, for environments
    it cannot make: one without our dependencies, one that is not the session's)."""
    key = install_key(commands)
    stamp = venv / ".dff-installed"
    if stamp.is_file() and stamp.read_text() == key:
        session.log(f"{venv.name} up to date with pyproject.toml and the C sources: nothing to install")
        return
    python = str(venv / "bin" / "python")
    for command in commands:
        session.run_install("uv", "pip", "install", "--python", python, *command, env=BUILD_ENV,
                            external=True)
    session.run_install(python, "-m", "compileall", "-qq", "-j", "0", str(venv / "lib"), success_codes=[0, 1],
                external=True)
    stamp.write_text(key)


@nox.session(python=PYTHON)
def prefect(session: nox.Session) -> None:
    """Prefect 3 flows, blocks and caching against Prefect's real local API."""
    install(session, "prefect", "dask", "lineage")
    session.run("pytest", "tests/prefect", "tests/conformance", *session.posargs)


@nox.session(python=PYTHON)
def dagster(session: nox.Session) -> None:
    """Dagster assets, checks and resource, materialized in process, through the CLI and through
    Dagster Pipes (the flows in their own environment, which has no Dagster)."""
    install(session, "dagster", "lineage")
    session.run("pytest", "tests/dagster", "tests/conformance", *session.posargs,
                env={"DFF_FLOWS_PYTHON": flows_python(session)})


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Run the examples/world factory end to end on the local runner."""
    # Not editable, and installed (so built and compiled) every time; the C extension as a user
    # gets it (DFF_C_EXTENSION=auto: pure Python, with a warning, where no compiler works).
    session.install(".", *REBUILD)
    session.install("--reinstall-package", "dataflows-tabulator", "dataflows-tabulator")
    session.run("dff", "run", "examples/world/factory.py", *session.posargs)
    session.run("dff", "graph", "examples/world/factory.py")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Side-by-side benchmarks (dataflows, local runner, pandas/polars/duckdb); writes RESULTS.md."""
    install(session, "bench")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=PYTHON)
def bench_dpp(session: nox.Session) -> None:
    """Case (a) on datapackage-pipelines beside plain dataflows and the local runner
    (``benchmarks/dpp.py``; not a default session). dpp gets an environment of its own,
    ``.nox/dpp`` (it pins old Flask and Celery); this session's runs the driver and our lines."""
    install(session, "bench")
    python = str(Path(".nox", "dpp", "bin", "python"))
    session.run_install("uv", "venv", "--allow-existing", "--python", PYTHON, str(Path(".nox", "dpp")),
                        external=True)
    session.run_install("uv", "pip", "install", "--python", python, "datapackage-pipelines==2.2.11",
                        external=True)
    # dpp also pulls the old `tabulator`, which shares its module with dataflows-tabulator.
    session.run_install("uv", "pip", "install", "--python", python, "--reinstall-package",
                        "dataflows-tabulator", "dataflows-tabulator", external=True)
    # Each dpp processor is a new Python: without bytecode each would compile dataflows again.
    session.run_install(python, "-m", "compileall", "-qq", "-j", "0", str(Path(".nox", "dpp", "lib")),
                        success_codes=[0, 1], external=True)
    session.run("python", "-m", "benchmarks.dpp", *session.posargs)
