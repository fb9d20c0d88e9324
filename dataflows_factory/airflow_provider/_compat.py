"""Every Airflow import of the provider, in one place: the only module that knows versions.

Airflow 3 moved the authoring API into the Task SDK (``airflow.sdk``); Airflow 2 has no
``airflow.sdk`` and is not supported. ``AirflowFailException`` moved from
``airflow.exceptions`` to ``airflow.sdk.exceptions`` in later 3.x releases.
"""

from __future__ import annotations

from ..errors import MissingExtraError

__all__ = ["DAG", "AirflowFailException", "Asset", "BaseOperator", "TaskGroup", "conf"]

try:
    from airflow.sdk import DAG, Asset, BaseOperator, TaskGroup
except ImportError as cause:  # no Airflow, or Airflow 2 (no Task SDK)
    raise MissingExtraError("airflow", "apache-airflow>=3.0 (airflow.sdk)") from cause

try:
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow 3.0
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef]


try:
    from airflow.sdk.configuration import conf
except ImportError:  # Airflow 3.0: the configuration still lives in the core
    from airflow.configuration import conf  # type: ignore[no-redef]
