"""The gunicorn entry point, `wsgi:app`, as in the example."""

from predictor import app

__all__ = ["app"]
