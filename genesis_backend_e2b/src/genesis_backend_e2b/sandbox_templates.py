"""Sandbox templates: the definitions shipped with Genesis, and building them
through E2B's own tooling (the SDK's Template API, which reads an
`e2b.Dockerfile` and builds and registers the template in E2B).

A template definition is a folder holding `e2b.Dockerfile` (E2B's
Dockerfile-based format: one FROM, then RUN, COPY, ENV, ARG, WORKDIR, USER).
The build stages it in a fresh context folder with a `wheels/` folder: wheels
given by the user (a development version of Genesis) are put there and
preferred over PyPI by the Dockerfile's `pip install --find-links`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from genesis_core.errors import GenesisError

DOCKERFILE = "e2b.Dockerfile"


@dataclass(frozen=True)
class TemplateDefinition:
    name: str
    folder: Path

    @property
    def dockerfile(self) -> Path:
        return self.folder / DOCKERFILE

    def summary(self) -> str:
        """The first sentence of the Dockerfile's opening comment."""
        words: list[str] = []
        for line in self.dockerfile.read_text().splitlines():
            text = line.lstrip("#").strip()
            if not line.startswith("#") or (not text and words):
                break
            words.append(text)
        paragraph = " ".join(w for w in words if w)
        return paragraph.split(". ")[0].rstrip(".")


def builtin_folder() -> Path:
    return Path(str(resources.files("genesis_backend_e2b") / "templates"))


def builtin_templates() -> list[TemplateDefinition]:
    root = builtin_folder()
    return [TemplateDefinition(p.name, p) for p in sorted(root.iterdir()) if (p / DOCKERFILE).is_file()]


def find_template(name_or_path: str) -> TemplateDefinition:
    """A built-in template by name, or a folder (or Dockerfile) of the user's own."""
    for definition in builtin_templates():
        if definition.name == name_or_path:
            return definition
    path = Path(name_or_path).expanduser()
    if path.is_file():
        if path.name != DOCKERFILE:
            raise GenesisError(f"{path} is not named {DOCKERFILE}. Name the template's Dockerfile {DOCKERFILE} inside its own folder.")
        path = path.parent
    if (path / DOCKERFILE).is_file():
        return TemplateDefinition(path.resolve().name, path.resolve())
    names = ", ".join(d.name for d in builtin_templates())
    raise GenesisError(
        f"No template named '{name_or_path}': expected one of the built-in templates ({names}) or a folder holding an "
        f"{DOCKERFILE}. See `genesis e2b template list`; to make your own, copy a built-in one "
        f"(`genesis e2b template show genesis-python`) into a folder and pass that folder."
    )


def _wheel_files(sources: list[Path]) -> list[Path]:
    wheels: list[Path] = []
    for source in sources:
        if source.is_dir():
            wheels.extend(sorted(source.glob("*.whl")))
        elif source.is_file() and source.suffix == ".whl":
            wheels.append(source)
        else:
            raise GenesisError(f"--wheels {source}: expected a .whl file or a folder of them (build them with `pip wheel --no-deps ./genesis_core -w dist`).")
    return wheels


@contextmanager
def staged_context(definition: TemplateDefinition, wheels: list[Path]) -> Iterator[Path]:
    """A temporary build context: the template's folder plus `wheels/`."""
    with tempfile.TemporaryDirectory(prefix=f"genesis-e2b-{definition.name}-") as tmp:
        context = Path(tmp)
        shutil.copytree(definition.folder, context, dirs_exist_ok=True)
        wheel_dir = context / "wheels"
        wheel_dir.mkdir(exist_ok=True)
        found = _wheel_files(wheels)
        for wheel in found:
            shutil.copy2(wheel, wheel_dir / wheel.name)
        if not found:
            (wheel_dir / "README.txt").write_text("No local wheels: pip installs Genesis from PyPI.\n")
        yield context


def load_template(context: Path):
    """The template as E2B's SDK reads it (validates the Dockerfile against E2B's supported subset)."""
    from e2b import Template
    from e2b.template.dockerfile_parser import DockerfileSyntaxError

    try:
        return Template(file_context_path=str(context)).from_dockerfile(str(context / DOCKERFILE))
    except (DockerfileSyntaxError, ValueError) as exc:
        raise GenesisError(f"E2B cannot read {DOCKERFILE}: {exc}. E2B templates accept one FROM and RUN, COPY, ENV, ARG, WORKDIR, USER.") from None


def describe(template) -> str:
    """The steps E2B will run, as a Dockerfile (what `--dry-run` prints)."""
    from e2b import Template

    return Template.to_dockerfile(template)


def build(
    definition: TemplateDefinition,
    *,
    name: str | None = None,
    wheels: list[Path] = (),
    cpu_count: int | None = None,
    memory_mb: int | None = None,
    skip_cache: bool = False,
    log: Callable[[str], None] = print,
):
    """Build the template in E2B and register it under `name` (default: the definition's name)."""
    if not os.environ.get("E2B_API_KEY"):
        raise GenesisError(
            "Building an E2B template needs an API key: set E2B_API_KEY (create one in the E2B dashboard). "
            "`genesis e2b template build NAME --dry-run` shows the steps without it."
        )
    from e2b import Template

    with staged_context(definition, list(wheels)) as context:
        template = load_template(context)
        try:
            return Template.build(
                template,
                name or definition.name,
                cpu_count=cpu_count,
                memory_mb=memory_mb,
                skip_cache=skip_cache,
                on_build_logs=lambda entry: log(str(entry)),
            )
        except Exception as exc:
            raise GenesisError(f"E2B could not build the template '{name or definition.name}': {type(exc).__name__}: {exc}") from None
