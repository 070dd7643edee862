"""Tokenizers for the token-level env.

:class:`CodeTokenizer` is codegym's offline default: no download, a small vocabulary (about 420
ids) of printable ASCII characters, indentation runs, common Python words, and byte fallback for
everything else. A newline is always a token of its own, so no token spans two lines and the FGO
token masks map exactly onto lines. Any Hugging Face tokenizer can be used instead through
:class:`HFTokenizer` (what :func:`as_tokenizer` wraps automatically).
"""

from __future__ import annotations

import keyword
import re
import string
from typing import Any, Protocol, runtime_checkable

from codegym.errors import ConfigError

__all__ = ["Tokenizer", "CodeTokenizer", "HFTokenizer", "as_tokenizer"]


@runtime_checkable
class Tokenizer(Protocol):
    """What the token env needs from a tokenizer."""

    vocab_size: int
    eos_token_id: int
    pad_token_id: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


_WORDS = sorted(
    set(keyword.kwlist)
    | {
        "print",
        "input",
        "int",
        "str",
        "len",
        "range",
        "list",
        "dict",
        "set",
        "tuple",
        "sorted",
        "sum",
        "min",
        "max",
        "abs",
        "map",
        "split",
        "strip",
        "join",
        "append",
        "enumerate",
        "zip",
        "float",
        "bool",
        "self",
        "sys",
        "stdin",
        "readline",
        "math",
        "collections",
        "defaultdict",
        "Counter",
        "deque",
        "heapq",
        "bisect",
        "itertools",
        "items",
        "keys",
        "values",
        "result",
        "answer",
        "count",
        "__name__",
        "__main__",
        "main",
        "solve",
        "True",
        "False",
        "None",
        "lower",
        "upper",
        "isdigit",
        "reverse",
        "pop",
        "insert",
        "index",
        "extend",
        "format",
        "any",
        "all",
        "ord",
        "chr",
    }
)
_INDENTS = ["        ", "    ", "  "]
_SPECIALS = ["<pad>", "<eos>", "<unk>"]


class CodeTokenizer:
    """Greedy longest-match tokenizer for Python code; exact round trip for any text."""

    def __init__(self) -> None:
        chars = [c for c in string.printable if c not in "\r\x0b\x0c"]
        pieces = _SPECIALS + chars + _INDENTS + [w for w in _WORDS if len(w) > 1]
        self._pieces: list[str] = pieces
        self._byte_base = len(pieces)
        self.vocab_size = len(pieces) + 256
        self.pad_token_id = 0
        self.eos_token_id = 1
        self.unk_token_id = 2
        self._ids = {p: i for i, p in enumerate(pieces) if i >= len(_SPECIALS)}
        multi = sorted((p for p in self._ids if len(p) > 1), key=len, reverse=True)
        words = "|".join(re.escape(w) for w in multi if w[0] != " ")
        # Words only match whole identifiers, so "printer" is not "print" + "er".
        self._pattern = re.compile(
            rf"(?:{'|'.join(re.escape(i) for i in _INDENTS)})|(?<![A-Za-z0-9_])(?:{words})(?![A-Za-z0-9_])|.",
            re.DOTALL,
        )

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for match in self._pattern.finditer(text):
            piece = match.group()
            token = self._ids.get(piece)
            if token is not None:
                ids.append(token)
            else:
                ids.extend(self._byte_base + b for b in piece.encode("utf-8"))
        return ids

    def decode(self, ids: list[int]) -> str:
        out: list[str] = []
        pending = bytearray()
        for i in ids:
            i = int(i)
            if i >= self._byte_base:
                pending.append(i - self._byte_base)
                continue
            if pending:
                out.append(pending.decode("utf-8", "replace"))
                pending.clear()
            if i >= len(_SPECIALS):
                out.append(self._pieces[i])
        if pending:
            out.append(pending.decode("utf-8", "replace"))
        return "".join(out)

    def token_text(self, token_id: int) -> str:
        """The text of one token ("" for specials; a byte token's latin-1 view)."""
        if token_id >= self._byte_base:
            return bytes([token_id - self._byte_base]).decode("latin-1")
        return self._pieces[token_id] if token_id >= len(_SPECIALS) else ""

    def __repr__(self) -> str:
        return f"CodeTokenizer(vocab_size={self.vocab_size})"


class HFTokenizer:
    """Adapter for a Hugging Face tokenizer (an instance, or a name or local path to load)."""

    def __init__(self, tokenizer: Any) -> None:
        if isinstance(tokenizer, str):
            try:
                from transformers import AutoTokenizer
            except ImportError as exc:
                from codegym.errors import MissingDependencyError

                raise MissingDependencyError("transformers", "agents") from exc
            tokenizer = AutoTokenizer.from_pretrained(tokenizer)
        self.hf = tokenizer
        self.vocab_size = len(tokenizer)
        eos = tokenizer.eos_token_id
        if eos is None:
            raise ConfigError(
                f"tokenizer {tokenizer.name_or_path!r} has no eos_token_id; the env ends episodes on it"
            )
        self.eos_token_id = int(eos)
        pad = tokenizer.pad_token_id
        self.pad_token_id = int(pad) if pad is not None else self.eos_token_id

    def encode(self, text: str) -> list[int]:
        return list(self.hf.encode(text, add_special_tokens=False))

    def decode(self, ids: list[int]) -> str:
        return self.hf.decode(
            [int(i) for i in ids], skip_special_tokens=False, clean_up_tokenization_spaces=False
        )

    def __repr__(self) -> str:
        return (
            f"HFTokenizer({getattr(self.hf, 'name_or_path', '?')!r}, vocab_size={self.vocab_size})"
        )


def as_tokenizer(tokenizer: Any) -> Tokenizer:
    """``None`` or ``"codegym"``: the default :class:`CodeTokenizer`; a str: a Hugging Face name or
    local path; an object with ``encode``/``decode``/``eos_token_id``: used as it is (HF
    tokenizers are wrapped)."""
    if tokenizer is None or tokenizer == "codegym":
        return CodeTokenizer()
    if isinstance(tokenizer, str):
        return HFTokenizer(tokenizer)
    if isinstance(tokenizer, (CodeTokenizer, HFTokenizer)):
        return tokenizer
    if hasattr(tokenizer, "convert_ids_to_tokens"):  # a transformers tokenizer
        return HFTokenizer(tokenizer)
    if isinstance(tokenizer, Tokenizer):
        return tokenizer
    raise ConfigError(
        f"tokenizer must be None, 'codegym', a Hugging Face tokenizer (or its name/path), or an object with "
        f"vocab_size, eos_token_id, pad_token_id, encode and decode; got {type(tokenizer).__name__}"
    )
