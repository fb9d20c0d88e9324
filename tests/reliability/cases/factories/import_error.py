import dataflows_does_not_exist  # noqa: F401  (the case: a factory whose import fails)
