"""``python -m dataflows_factory`` is ``dff``."""

from .cli import main

main()
