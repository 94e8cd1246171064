"""The backend conformance suite of genesis_core.testing, on the real Slurm cluster."""

from __future__ import annotations

import pytest
from genesis_backend_slurm.backend import SlurmBackend
from genesis_core.testing.backends import BackendPluginTests

pytestmark = [pytest.mark.slurm]


class TestSlurmBackendConformance(BackendPluginTests):
    backend_class = SlurmBackend

    @pytest.fixture
    def backend_factory(self, tmp_path, slurm_cluster):
        return lambda: SlurmBackend({"folder": str(tmp_path / "slurm")}, run_dir=tmp_path)

