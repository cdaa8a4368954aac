"""Iris species classifier: a scikit-learn decision tree trained from the `training` channel."""
