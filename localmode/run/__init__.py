"""What the user runs: the CLI, the demo commands, one session on the local services, the report."""
