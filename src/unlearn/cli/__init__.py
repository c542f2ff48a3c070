"""The ``unlearn`` command: one module per sub-command."""
