"""Griffe extension for the docs build: render Sphinx roles in codegym's docstrings as links.

Docstrings in ``codegym/`` cross-reference with Sphinx roles (``:class:`Executor```,
``:func:`~codegym.sandbox.run```). mkdocstrings writes Markdown, where those would show up
literally; this rewrites each role to a Markdown cross-reference (``[`Executor`][Executor]``) that
mkdocstrings resolves in the docstring's scope (``scoped_crossrefs: true`` in ``mkdocs.yml``). A
leading ``~`` shows only the last name, as in Sphinx. Loaded by ``mkdocs.yml``; not part of the
package.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|meth|data|attr|mod|exc|obj):`(~?)([\w.]+)`")


def _markdown_ref(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    title = target.rsplit(".", 1)[-1] if short else target
    return f"[`{title}`][{target}]"


class SphinxRoles(griffe.Extension):
    """Rewrite ``:role:`target``` in every docstring as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ":`" in obj.docstring.value:
            obj.docstring.value = ROLE.sub(_markdown_ref, obj.docstring.value)
