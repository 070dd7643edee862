"""The README's quickstart runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_quickstart_snippet_runs(capsys):
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## Quickstart\s+```python\n(.*?)```", text, re.S)
    assert block is not None, "README has no Quickstart python block"
    exec(compile(block.group(1), "README.md", "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    assert re.search(r"stage \d+/\d+", out), out  # the convention render() uses too
