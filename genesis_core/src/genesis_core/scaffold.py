"""`genesis plugins new`: a new plugin package from the template in plugins/template.

genesis-core ships a copy of that folder as package data (`plugin_template`),
so scaffolding works from a plain `pip install genesis-core`.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from genesis_core import PLUGIN_API
from genesis_core.errors import GenesisError

KIND_PREFIXES = {"language": "lang-", "backend": "backend-", "llm": "llm-", "strategy": "strategy-"}
DIST_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*([-_.][A-Za-z0-9]+)*$")


def template_root() -> Path:
    """The template folder: the installed copy, or plugins/template in a checkout."""
    packaged = resources.files("genesis_core") / "plugin_template"
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[3] / "plugins" / "template"
    if checkout.is_dir():
        return checkout
    raise GenesisError(
        "The plugin template is missing from this installation of genesis-core "
        "(expected genesis_core/plugin_template). Reinstall genesis-core."
    )


def names_for(dist: str, kind: str) -> dict[str, str]:
    """The template's substitutions for distribution `dist` of `kind`."""
    if not DIST_RE.match(dist):
        raise GenesisError(
            f"'{dist}' is not a valid distribution name: use letters, digits and single '-', '_' or '.' "
            f"between them, for example genesis-lang-zig."
        )
    short = re.sub(r"^genesis[-_]", "", dist.lower())
    prefix = KIND_PREFIXES[kind]
    if short.startswith(prefix):
        short = short[len(prefix):]
    name = re.sub(r"[^a-z0-9]+", "-", short).strip("-") or kind
    if not name[0].isalpha():
        name = f"{kind}-{name}"
    major, minor = PLUGIN_API.split(".")
    return {
        "dist": dist,
        "package": re.sub(r"[^a-z0-9]+", "_", dist.lower()).strip("_"),
        "name": name,
        "cls": "".join(part.capitalize() for part in re.split(r"[^a-z0-9]+", name) if part),
        "kind": kind,
        "env": re.sub(r"[^A-Z0-9]+", "_", name.upper()),
        "api": PLUGIN_API,
        "api_next": f"{major}.{int(minor) + 1}",
    }


def render(text: str, names: dict[str, str]) -> str:
    for key, value in names.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def scaffold_plugin(dist: str, kind: str, parent: Path) -> Path:
    """Write the package folder `parent/dist`; refuse to overwrite anything."""
    names = names_for(dist, kind)
    target = parent / dist
    if target.exists():
        raise GenesisError(f"{target} already exists; choose another name or --dir, or remove it first.")
    root = template_root()
    files = {
        "pyproject.toml": root / "pyproject.toml.tmpl",
        "README.md": root / "README.md.tmpl",
        f"src/{names['package']}/__init__.py": None,
        f"src/{names['package']}/plugin.py": root / "kinds" / f"{kind}.py.tmpl",
        f"tests/test_{names['package']}.py": root / "kinds" / f"test_{kind}.py.tmpl",
    }
    for relative, source in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        text = render(source.read_text(), names) if source else f'"""{dist}: a Genesis {kind} plugin."""\n'
        path.write_text(text)
    return target
