"""Code and diffs as HTML with syntax highlighting, done on the server with Pygments.

Every text that reaches the page through here is escaped by Pygments'
formatter: program code is data, never markup.
"""

from __future__ import annotations

import difflib
import html
from functools import lru_cache

# Genesis language names whose Pygments lexer has another name.
LEXER_NAMES = {"cuda": "cuda", "cpp": "cpp", "c++": "cpp", "js": "javascript", "ts": "typescript"}
CSS_SCOPE = ".hl"


@lru_cache(maxsize=64)
def _lexer(language: str):
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(LEXER_NAMES.get(language, language), stripnl=False, ensurenl=False)
    except ClassNotFound:
        return get_lexer_by_name("text", stripnl=False, ensurenl=False)


def code_html(code: str, language: str) -> str:
    """`code` as highlighted HTML (spans with Pygments' short class names)."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter

    return highlight(code, _lexer(language or "text"), HtmlFormatter(nowrap=True))


def unified_diff(before: str, after: str, before_name: str, after_name: str) -> str:
    """The unified diff of two versions of a program, as text."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), before_name, after_name, n=3
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def diff_html(diff: str) -> str:
    """A unified diff as HTML, one element per line, classed by what the line does."""
    out = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            cls = "d-file"
        elif line.startswith("@@"):
            cls = "d-hunk"
        elif line.startswith("+"):
            cls = "d-add"
        elif line.startswith("-"):
            cls = "d-del"
        else:
            cls = "d-ctx"
        out.append(f'<span class="{cls}">{html.escape(line)}</span>')
    return "\n".join(out)


@lru_cache(maxsize=1)
def stylesheet() -> str:
    """The CSS of the highlighting classes, scoped to CSS_SCOPE."""
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(CSS_SCOPE)
