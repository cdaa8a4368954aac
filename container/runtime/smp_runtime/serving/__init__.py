"""The built-in model server, and the choice between it and the user's own `serve` (server.run)."""
