"""The ``tiny`` preset: a small GPT-2 and a tokenizer built here, no download needed.

The tokenizer is a byte-level BPE trained on the bundled problems' statements and canonical
solutions, with every newline a token of its own (so no token spans two lines and the env's FGO
token masks map exactly). The model is a 2-layer GPT-2, warm-started by supervised training on
the training split's canonical completions at every curriculum stage.
"""

from __future__ import annotations

import logging
import math
import os
import random
from collections.abc import Callable, Sequence
from typing import Any

import torch

from codegym.agents.policy import SEPARATOR, build_context, quiet_transformers
from codegym.curriculum import segment
from codegym.problems import Problem

__all__ = ["build_tiny", "sft_examples", "supervised_warm_start"]

logger = logging.getLogger(__name__)

EOS, PAD = "<|endoftext|>", "<pad>"


def train_tokenizer(texts: Sequence[str], vocab_size: int = 2048) -> Any:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex("\n"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS, pad_token=PAD, bos_token=EOS
    )


def build_tiny(problems: Sequence[Problem], path: str, *, seed: int = 0) -> str:
    """Build (once) the tiny tokenizer and an untrained 2-layer GPT-2 at ``path``; returns it."""
    if os.path.exists(os.path.join(path, "config.json")):
        return path
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    texts = [p.statement for p in problems] + [p.canonical_solution for p in problems]
    tokenizer = train_tokenizer(texts)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=1024,
        n_embd=128,
        n_layer=2,
        n_head=4,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        # No dropout: PPO's ratios need the same log-probs at rollout and update time.
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    model = GPT2LMHeadModel(config)
    os.makedirs(path, exist_ok=True)
    with quiet_transformers():
        model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    logger.info(
        "built tiny model at %s (%d parameters)", path, sum(p.numel() for p in model.parameters())
    )
    return path


def sft_examples(
    problems: Sequence[Problem],
    tokenizer: Any,
    max_context: int,
    *,
    max_prompt_tokens: int | None = None,
    max_prefix_tokens: int | None = None,
) -> list[tuple[list[int], list[int]]]:
    """``(context, completion + eos)`` pairs: each problem at each curriculum stage.

    Each context is the one the rollouts build from ``CodeGen-v0``'s observation: the env keeps
    the *first* ``max_prompt_tokens`` tokens of the statement and the *last* ``max_prefix_tokens``
    of the starting code, and ``build_context`` then keeps the end of statement + separator +
    prefix. (Both limits default to ``max_context``, what the trainer gives the env.) Training on
    any other cut of the statement would teach the model contexts it never sees in an episode.
    """
    max_prompt = max_context if max_prompt_tokens is None else max_prompt_tokens
    max_prefix = max_context if max_prefix_tokens is None else max_prefix_tokens
    sep = tokenizer.encode(SEPARATOR, add_special_tokens=False)
    out = []
    for p in problems:
        seg = segment(p.canonical_solution)
        statement = tokenizer.encode(p.statement, add_special_tokens=False)[:max_prompt]
        for stage in range(seg.n_stages):
            start = seg.start_code(stage, p.starter_code)  # as the env starts the episode
            if not p.canonical_solution.startswith(start):
                continue
            rest = p.canonical_solution[len(start) :]
            prefix = (
                tokenizer.encode(start, add_special_tokens=False)[-max_prefix:] if start else []
            )
            context = build_context(statement, prefix, sep, max_context)
            out.append(
                (
                    context,
                    tokenizer.encode(rest, add_special_tokens=False) + [tokenizer.eos_token_id],
                )
            )
    return out


def supervised_warm_start(
    model: Any,
    tokenizer: Any,
    problems: Sequence[Problem],
    *,
    steps: int,
    learning_rate: float,
    batch_size: int = 8,
    max_context: int = 448,
    max_completion: int = 256,
    seed: int = 0,
    device: torch.device,
    on_step: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Teacher-forced training on canonical completions (loss on completion tokens only)."""
    examples = sft_examples(problems, tokenizer, max_context)
    rng = random.Random(seed)
    lm = model.lm if hasattr(model, "lm") else model
    optimizer = torch.optim.AdamW(lm.parameters(), lr=learning_rate, weight_decay=0.0)
    pad = tokenizer.pad_token_id
    losses = []
    lm.train()
    for step in range(steps):
        batch = rng.sample(examples, min(batch_size, len(examples)))
        rows, labels = [], []
        for context, completion in batch:
            completion = completion[:max_completion]
            ids = context + completion
            rows.append(ids)
            labels.append([-100] * len(context) + completion)
        width = max(len(r) for r in rows)
        input_ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=device)
        label_ids = torch.tensor(
            [lab + [-100] * (width - len(lab)) for lab in labels], device=device
        )
        attention = (
            torch.arange(width, device=device)[None, :]
            < torch.tensor([len(r) for r in rows], device=device)[:, None]
        ).long()
        lr = learning_rate * 0.5 * (1 + math.cos(math.pi * step / max(steps, 1)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = lm(input_ids=input_ids, attention_mask=attention, labels=label_ids).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        if on_step is not None:
            on_step(step, losses[-1])
    lm.eval()
    return losses
