"""One conformance suite: the same factories on every installed engine, compared with the local runner."""
