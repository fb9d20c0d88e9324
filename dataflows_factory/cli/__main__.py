"""``python -m dataflows_factory.cli`` is ``dff``."""

from . import main

main()
