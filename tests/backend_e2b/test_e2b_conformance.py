"""The backend conformance suite of genesis_core.testing, with the real E2B SDK against the local stand-in."""

from __future__ import annotations

import pytest
from genesis_backend_e2b.backend import E2BBackend
from genesis_core.testing.backends import BackendPluginTests


class TestE2BBackendConformance(BackendPluginTests):
    """E2B's debug mode: no cloud call, the SDK talks to the local envd."""

    backend_class = E2BBackend

    @pytest.fixture
    def backend_factory(self, tmp_path, e2b_standin):
        return lambda: E2BBackend(e2b_standin.debug_settings(concurrency=2), run_dir=tmp_path)


class TestE2BBackendConformanceThroughTheControlPlane(BackendPluginTests):
    """Sandboxes created and killed through the (stand-in) control plane, with an API key."""

    backend_class = E2BBackend

    @pytest.fixture
    def backend_factory(self, tmp_path, e2b_standin, e2b_api_key):
        return lambda: E2BBackend(e2b_standin.cloud_settings(concurrency=2), run_dir=tmp_path)
