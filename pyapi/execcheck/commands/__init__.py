"""One module per `execcheck` subcommand. Each defines ORDER (its place in --help),
add_parser(subparsers) and, through set_defaults(run=...), run(args) -> exit status."""
import importlib
import pkgutil


def all_commands():
    modules = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module("%s.%s" % (__name__, info.name))
        if hasattr(module, "add_parser"):
            modules.append(module)
    return sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))
