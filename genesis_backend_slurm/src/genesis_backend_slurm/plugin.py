"""Entry point of genesis-backend-slurm: registers the `slurm` backend.

Only light modules are imported here; submitit is imported when a backend starts.
"""

from genesis_core.hookspecs import hookimpl

from genesis_backend_slurm.backend import SlurmBackend


@hookimpl
def register_backends(register):
    register(SlurmBackend)
