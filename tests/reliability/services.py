"""The real services the suite needs: the machine's PostgreSQL, a moto S3 server on loopback.

A missing service fails the tests that need it (loudly, never a skip). Where a Docker
engine runs, ``docker-compose.yml`` beside this file starts the same services
(``pytest-docker``); this machine has the ``docker`` CLI but no engine, so its own
PostgreSQL is used.
"""

from __future__ import annotations

import os

PG_URL = os.environ.get("DFF_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
