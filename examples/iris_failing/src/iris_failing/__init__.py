"""A package whose training fails on purpose (failure-path tests and demos)."""
