"""One module per `execcheck` subcommand: each has add_parser(subparsers) and run(args) -> exit status."""
