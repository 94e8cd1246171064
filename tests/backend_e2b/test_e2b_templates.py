"""The sandbox templates and `genesis e2b template ...`.

Building in E2B's cloud needs an account; here every definition goes through
E2B's own Dockerfile parser (what `build` hands to `Template.build`), and the
command's refusals are checked.
"""

from __future__ import annotations

import json

import pytest

from genesis_backend_e2b import sandbox_templates as st

BUILT_IN = ["genesis-cpp", "genesis-full", "genesis-go", "genesis-python", "genesis-rust"]
TOOLCHAINS = {
    "genesis-python": ["genesis-core"],
    "genesis-rust": ["genesis-core", "genesis-lang-rust", "rustup", "RUSTUP_HOME"],
    "genesis-cpp": ["genesis-core", "genesis-lang-cpp", "g++", "clang"],
    "genesis-go": ["genesis-core", "go.dev/dl", "/usr/local/go/bin"],
    "genesis-full": ["genesis-lang-rust", "genesis-lang-cpp", "rustup", "go.dev/dl", "clang"],
}


def test_the_built_in_templates_are_listed(genesis_cli):
    out = genesis_cli(["e2b", "template", "list"])
    assert out.returncode == 0, out
    assert [line.split()[0] for line in out.stdout.splitlines()] == BUILT_IN
    assert [d.name for d in st.builtin_templates()] == BUILT_IN


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_template_is_accepted_by_e2b_and_sets_up_its_toolchain(name):
    definition = st.find_template(name)
    with st.staged_context(definition, []) as context:
        steps = st.describe(st.load_template(context))
    assert steps.startswith("FROM python:3.11")
    for needle in TOOLCHAINS[name]:
        assert needle in steps, needle
    # Login shells (E2B's `bash -l -c`) get the toolchains back from this script.
    assert "/etc/profile.d/genesis.sh" in steps
    # E2B's defaults come back after the Dockerfile: commands run as `user` in /home/user.
    assert steps.rstrip().endswith("USER user\nWORKDIR /home/user")


def test_dry_run_prints_the_steps(genesis_cli):
    out = genesis_cli(["e2b", "template", "build", "genesis-rust", "--dry-run"])
    assert out.returncode == 0, out
    assert "rustup" in out.stdout and 'pip install --find-links /opt/genesis/wheels' in out.stdout


def test_wheels_go_into_the_build_context(tmp_path):
    wheel = tmp_path / "genesis_core-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip: only copied here
    with st.staged_context(st.find_template("genesis-python"), [tmp_path]) as context:
        assert (context / "wheels" / wheel.name).read_bytes() == wheel.read_bytes()
        assert (context / "e2b.Dockerfile").is_file()


def test_building_needs_an_api_key(genesis_cli):
    out = genesis_cli(["e2b", "template", "build", "genesis-python"], env={"E2B_API_KEY": ""})
    assert out.returncode == 2
    assert "E2B_API_KEY" in out.stderr and "Traceback" not in out.stderr


def test_an_unknown_template_names_the_built_in_ones(genesis_cli):
    out = genesis_cli(["e2b", "template", "build", "genesis-cobol", "--dry-run"])
    assert out.returncode == 2
    assert "genesis-cobol" in out.stderr and "genesis-rust" in out.stderr


def test_a_custom_template_folder(tmp_path, genesis_cli):
    folder = tmp_path / "my-template"
    folder.mkdir()
    (folder / "requirements.txt").write_text("numpy\n")
    (folder / "e2b.Dockerfile").write_text(
        "FROM python:3.12-slim\n"
        "COPY requirements.txt /opt/req.txt\n"
        "RUN pip install -r /opt/req.txt genesis-core\n"
    )
    out = genesis_cli(["e2b", "template", "build", str(folder), "--dry-run"])
    assert out.returncode == 0, out
    assert "my-template" in out.stdout and "COPY requirements.txt /opt/req.txt" in out.stdout
    (folder / "e2b.Dockerfile").write_text("FROM rust:1 AS build\nRUN cargo --version\nFROM python:3.12\n")
    out = genesis_cli(["e2b", "template", "build", str(folder), "--dry-run"])
    assert out.returncode == 2
    assert "Multi-stage" in out.stderr


def test_the_package_shows_in_plugins_list(genesis_cli):
    out = genesis_cli(["plugins", "list", "--json"])
    assert out.returncode == 0, out
    (entry,) = [p for p in json.loads(out.stdout) if p["name"] == "genesis-backend-e2b"]
    assert entry["status"] == "ok", entry
    assert entry["provides"]["backends"] == ["e2b"]
    assert entry["provides"]["commands"] == ["e2b"]
