"""One module per command the user can name. Each has register(subparsers) and run(args) -> int."""
