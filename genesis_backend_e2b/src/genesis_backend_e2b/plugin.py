"""Entry point of genesis-backend-e2b: the `e2b` backend and the `genesis e2b` commands.

Only light modules are imported here; the e2b SDK is imported when a
sandbox is created or a template is built.
"""

from genesis_core.hookspecs import hookimpl

from genesis_backend_e2b.backend import E2BBackend


@hookimpl
def register_backends(register):
    register(E2BBackend)


@hookimpl
def register_commands(cli):
    from genesis_backend_e2b.commands import e2b

    cli.add_command(e2b)
