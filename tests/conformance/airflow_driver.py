"""Run factories' DAGs with ``dag.test()`` and write what Airflow recorded as JSON.

The conformance suite's Airflow engine starts it once per session, in a subprocess whose
environment holds the Airflow configuration (home, DAGs folder, a migrated metadata
database), so Airflow is imported once for all factories. Each request is one JSON line on
stdin, ``{"factory": FILE, "store": DIR, "dag_id": ID, "output": JSON_FILE}``; the answer
is written to ``output``, then its path is printed on stdout. Airflow's own output goes to
``<AIRFLOW_HOME>/driver.log``.

The DAG file it writes is what a user writes (``build_dag``), plus a task failure callback,
the hook Airflow users wire alerts to: it records the exception each failed task raised.
The output has the DAG run's state and, per task instance, its flow and partition, state,
``return_value`` XCom (the flow's StepResult) and recorded error.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

DAG = '''\
import json

from dataflows_factory.airflow_provider import build_dag


def record_failure(context):
    ti = context["ti"]
    with open({errors!r}, "a", encoding="utf-8") as out:
        out.write(json.dumps({{"task_id": ti.task_id, "map_index": ti.map_index,
                              "error": str(context["exception"])}}) + "\\n")


dag = build_dag({factory!r}, dag_id={dag_id!r}, store={store!r},
                task_kwargs={{"on_failure_callback": record_failure}})
'''


def main(factory_file: str, store: str, dag_id: str, output: str) -> None:
    from airflow import settings
    from airflow.dag_processing.dagbag import DagBag
    from sqlalchemy import text

    errors = Path(output).with_suffix(".errors.jsonl")
    dag_file = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{dag_id}.py"
    dag_file.write_text(DAG.format(errors=str(errors), factory=factory_file, dag_id=dag_id, store=store),
                        encoding="utf-8")
    bag = DagBag(dag_folder=str(dag_file))
    if bag.import_errors:
        raise SystemExit(f"the DAG file does not import: {bag.import_errors}")
    dag = bag.dags[dag_id]
    dag_run = dag.test()
    recorded = {}
    if errors.exists():
        for line in errors.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            recorded[(entry["task_id"], entry["map_index"])] = entry["error"]
    with settings.Session() as session:
        rows = session.execute(text("SELECT task_id, map_index, value FROM xcom WHERE dag_id = :dag "
                                    "AND run_id = :run AND key = 'return_value'"),
                               {"dag": dag_id, "run": dag_run.run_id}).all()
    xcoms = {(task, index): value if isinstance(value, dict) else json.loads(value)
             for task, index, value in rows}
    tasks = []
    for ti in dag_run.get_task_instances():
        task = dag.get_task(ti.task_id)
        flow = getattr(task, "flow", None) or task.partial_kwargs["flow"]  # a mapped task keeps it there
        tasks.append({
            "task_id": ti.task_id,
            "flow": flow,
            "partition": ti.rendered_map_index if ti.map_index >= 0 else None,
            "state": str(ti.state.value if hasattr(ti.state, "value") else ti.state),
            "xcom": xcoms.get((ti.task_id, ti.map_index)),
            "error": recorded.get((ti.task_id, ti.map_index)),
        })
    state = dag_run.state
    Path(output).write_text(json.dumps({"state": str(getattr(state, "value", state)), "tasks": tasks}),
                            encoding="utf-8")


def serve() -> None:
    # Run as a script, this folder is first on sys.path: keep the suite's modules out of Airflow's way.
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).parent]
    # Keep the request pipe clean: Airflow logs to stdout and stderr, so both go to a file.
    answers = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    log = os.open(Path(os.environ["AIRFLOW_HOME"]) / "driver.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    for line in sys.stdin:
        request = json.loads(line)
        main(request["factory"], request["store"], request["dag_id"], request["output"])
        answers.write(request["output"] + "\n")


if __name__ == "__main__":
    serve()
