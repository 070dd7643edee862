"""A causal LM with a value head, and how episodes become model inputs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from codegym.errors import ConfigError

__all__ = [
    "ValueHeadModel",
    "load_policy",
    "check_model_source",
    "resolve_device",
    "build_context",
    "SEPARATOR",
    "score_sequences",
]

SEPARATOR = "\n# Python 3 solution\n"
"""Text between the statement and the code in the model's context (in SFT and RL alike)."""


def resolve_device(spec: str) -> torch.device:
    """``"auto"`` (CUDA when present, else the CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(spec)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """No transformers/hub progress bars inside (loading weights, writing shards): training
    reports its own progress, and a bar per save or load drowns it. Restored afterwards."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


class ValueHeadModel(nn.Module):
    """A Hugging Face causal LM plus a scalar value head on its last hidden state.

    The value head shares the policy's trunk rather than being a separate critic network: one
    forward pass gives both the token distribution and the values, which halves the compute of
    every update (what matters on a CPU and for large models alike), and the trunk's features are
    already the ones that predict success. Its gradient reaches the trunk scaled by ``vf_coef``.
    """

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm
        hidden = lm.config.hidden_size if hasattr(lm.config, "hidden_size") else lm.config.n_embd
        self.value_head = nn.Linear(hidden, 1)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, L, V) and values (B, L)."""
        out = self.lm(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            output_hidden_states=True,
            use_cache=False,
        )
        values = self.value_head(out.hidden_states[-1].to(self.value_head.weight.dtype)).squeeze(-1)
        return out.logits, values

    def save(self, path: str, tokenizer: Any = None) -> None:
        os.makedirs(path, exist_ok=True)
        with quiet_transformers():
            self.lm.save_pretrained(path)
        torch.save(self.value_head.state_dict(), os.path.join(path, "value_head.pt"))
        if tokenizer is not None:
            tokenizer.save_pretrained(path)


def check_model_source(name_or_path: str) -> None:
    """Fail fast, in one line, when ``name_or_path`` cannot give a model.

    A local directory must hold a ``config.json``; a path that does not exist is an error (a
    name with a slash, ``org/model``, counts as a hub name only if no such path exists). A hub
    name must be in the local Hugging Face cache or the hub must be reachable: with
    ``HF_HUB_OFFLINE=1``, or when the hub's host does not answer within a few seconds, the name
    is refused at once instead of after transformers' retries (about 50 s without a network).
    """
    path = os.path.expanduser(name_or_path)
    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, "config.json")):
            raise ConfigError(
                f"model directory {name_or_path!r} has no config.json; pass a directory written "
                "by save_pretrained (e.g. runs/codegym/checkpoint) or a Hugging Face model name"
            )
        return
    looks_like_path = name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1
    if looks_like_path or os.path.exists(path):
        raise ConfigError(
            f"model path {name_or_path!r} does not exist; pass a directory written by "
            "save_pretrained (e.g. runs/codegym/checkpoint) or a Hugging Face model name"
        )
    from huggingface_hub import constants, try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(name_or_path, "config.json")
    except ValueError as exc:  # not a valid repo id
        raise ConfigError(
            f"model {name_or_path!r} is neither a directory nor a model name: {exc}"
        ) from None
    if isinstance(cached, str):
        return  # cached: loads without the hub
    if constants.HF_HUB_OFFLINE:
        raise ConfigError(
            f"model {name_or_path!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE "
            "is set; download it where the hub is reachable, or pass a local model directory"
        )
    if not _reachable(constants.ENDPOINT):
        raise ConfigError(
            f"model {name_or_path!r} is not in the local Hugging Face cache and "
            f"{constants.ENDPOINT} is unreachable; download it where the hub is reachable, or "
            "pass a local model directory"
        )


def _reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``url``'s host opens (True behind a proxy: it decides)."""
    import socket
    import urllib.parse

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def load_policy(
    name_or_path: str, device: torch.device, *, lora_r: int = 0
) -> tuple[ValueHeadModel, Any]:
    """Load a causal LM and its tokenizer by name or local path (no hub needed for a path).

    Raises :class:`~codegym.errors.ConfigError` at once, in one line, for a path that does not
    exist or a model name that cannot be fetched (see :func:`check_model_source`).
    """
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        from codegym.errors import MissingDependencyError

        raise MissingDependencyError("transformers", "agents") from exc
    check_model_source(name_or_path)
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(name_or_path)
            lm = AutoModelForCausalLM.from_pretrained(name_or_path)
    except OSError as exc:  # e.g. no such model on the hub, or a file missing from the directory
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot load model {name_or_path!r}: {first}") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(lm, "loss_type", None) is None:
        # A causal LM: say so, or transformers warns that loss_type=None is unrecognized.
        lm.loss_type = "ForCausalLM"
    if lora_r > 0:
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError as exc:
            from codegym.errors import MissingDependencyError

            raise MissingDependencyError("peft (for lora_r > 0)", "lora") from exc
        lm = get_peft_model(lm, LoraConfig(r=lora_r, lora_alpha=2 * lora_r, task_type="CAUSAL_LM"))
    model = ValueHeadModel(lm)
    head = os.path.join(name_or_path, "value_head.pt")
    if os.path.exists(head):
        model.value_head.load_state_dict(torch.load(head, map_location="cpu"))
    return model.to(device), tokenizer


def build_context(
    statement_ids: list[int], prefix_ids: list[int], sep_ids: list[int], max_tokens: int
) -> list[int]:
    """Statement, separator and the episode's starting code; the end is kept when too long."""
    ids = list(statement_ids) + list(sep_ids) + list(prefix_ids)
    return ids[-max_tokens:]


def pad_batch(
    contexts: list[list[int]], generated: list[list[int]], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Left-pad contexts and right-pad generations into one batch.

    Returns ``input_ids`` (B, L), ``attention_mask`` (B, L), ``position_ids`` (B, L) and the
    column where generated tokens start (``C``, the longest context).
    """
    width_c = max(len(c) for c in contexts)
    width_g = max((len(g) for g in generated), default=0)
    rows, masks = [], []
    for c, g in zip(contexts, generated):
        left = width_c - len(c)
        right = width_g - len(g)
        rows.append([pad_id] * left + c + g + [pad_id] * right)
        masks.append([0] * left + [1] * (len(c) + len(g)) + [0] * right)
    input_ids = torch.tensor(rows, dtype=torch.long, device=device)
    attention_mask = torch.tensor(masks, dtype=torch.long, device=device)
    position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
    return input_ids, attention_mask, position_ids, width_c


def score_sequences(
    model: nn.Module,
    contexts: list[list[int]],
    generated: list[list[int]],
    pad_id: int,
    device: torch.device,
    *,
    with_values: bool = True,
    temperature: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Log-probabilities (and values, entropies) of the generated tokens under ``model``.

    ``temperature`` divides the logits exactly as sampling did, so the log-probabilities are those
    of the distribution the rollout actually drew from (PPO's behaviour policy).

    Returns tensors of shape (B, T), T the longest generation: ``logprobs``, ``values`` (when
    ``model`` has a value head), ``entropy`` and ``mask`` (1 on real generated tokens).
    """
    input_ids, attention_mask, position_ids, start = pad_batch(contexts, generated, pad_id, device)
    width = input_ids.shape[1] - start  # T
    if isinstance(model, ValueHeadModel) and with_values:
        logits, values = model(input_ids, attention_mask, position_ids)
    else:
        lm = model.lm if isinstance(model, ValueHeadModel) else model
        logits = lm(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=False,
        ).logits
        values = None
    # The logits at column p predict the token at column p + 1.
    step_logits = logits[:, start - 1 : start - 1 + width]  # (B, T, V)
    targets = input_ids[:, start : start + width]  # (B, T)
    logp = torch.log_softmax(step_logits.float() / temperature, dim=-1)
    logprobs = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)
    mask = attention_mask[:, start : start + width].to(logprobs.dtype)  # (B, T)
    out = {
        "logprobs": logprobs * mask,
        "mask": mask,
        "entropy": -(logp.exp() * logp).sum(-1) * mask,
    }
    if values is not None:
        out["values"] = (
            values[:, start - 1 : start - 1 + width] * mask
        )  # value of the state before each token
    return out
