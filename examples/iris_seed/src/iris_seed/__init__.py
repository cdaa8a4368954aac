"""Iris classifier in the seed style: no-argument entry points that read SM_* environment variables."""
