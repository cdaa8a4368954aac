"""The serve executable and the built-in model server."""
