"""Command-line subcommands of ``scaa`` that are only a command: ``detect`` and ``weights``."""
