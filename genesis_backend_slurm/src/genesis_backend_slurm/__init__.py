"""Genesis backend that runs evaluation jobs on a Slurm cluster through submitit."""

__version__ = "0.1.0"
