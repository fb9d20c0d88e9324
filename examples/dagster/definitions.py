"""The world factory as Dagster assets.

    dagster dev -f examples/dagster/definitions.py        # the asset graph, in the browser
    dagster asset materialize -f examples/dagster/definitions.py --select '*'

Every flow is an asset ``world/<flow>`` in group ``world``, with its own retry policy and a
``dataset_valid`` check. Datasets go to the factory's store (``examples/world/data``, or
``$DFF_STORE`` when it is set); rows never pass through an IO manager.
"""

from pathlib import Path

from dagster import Definitions

from dataflows_factory import load_factory
from dataflows_factory.dagster_assets import FactoryResource, build_assets

# Found relative to this file, so `dagster` can be started from any folder.
factory = load_factory(str(Path(__file__).resolve().parent.parent / "world" / "factory.py") + ":factory")

defs = Definitions(
    assets=build_assets(factory),
    # Per environment, e.g. FactoryResource(store=EnvVar("DFF_STORE")) for s3://bucket/prefix.
    resources={"dff": FactoryResource()},
)
