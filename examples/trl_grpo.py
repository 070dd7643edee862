"""TRL's GRPOTrainer with codegym's reward, the CCCS curriculum and FGO masks, on a laptop CPU.

    python examples/trl_grpo.py --steps 8

Builds the tiny GPT-2 locally (no download), teaches it the chosen problems' canonical
completions for a few steps (so that some samples pass and GRPO has rewards to compare), then
runs GRPO: prompts come from the CCCS dataset (each problem at its current stage), rewards from the
sandbox, and the FGO rollout masks the tokens of lines no test executed out of the loss. Prints
each step's reward, pass rate and the curriculum's stages; the curriculum is saved with every
checkpoint (``--save-steps``) and at the end. About 4 minutes on 2 CPU cores. The tiny model will
not learn to program: once CCCS moves a problem to a longer task, its pass rate drops. The point
is the wiring, which is the same for a real model on a GPU.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is experimental in TRL

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback, TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from codegym.agents.tiny import build_tiny
from codegym.curriculum import Curriculum
from codegym.integrations import trl as cg
from codegym.problems import load


def warm_start(model, tokenizer, problems, curriculum, steps: int) -> None:  # noqa: ANN001
    """Teacher-forced training on each stage's canonical completion (prompt tokens masked)."""
    pairs = []
    for p in problems:
        for stage in range(curriculum.n_stages(p.id)):
            start = curriculum.segmentation(p.id).start_code(stage, p.starter_code)
            prompt = tokenizer.encode(cg.build_prompt(p, start))
            answer = tokenizer.encode(p.canonical_solution[len(start) :] + "```")
            pairs.append((prompt, answer + [tokenizer.eos_token_id]))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(steps):
        loss = sum(
            model(input_ids=torch.tensor([c + y]), labels=torch.tensor([[-100] * len(c) + y])).loss
            for c, y in pairs
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


class PrintProgress(TrainerCallback):
    def __init__(self, curriculum: Curriculum) -> None:
        self.curriculum = curriculum

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
        if logs and "reward" in logs:
            print(
                f"step {state.global_step:3d}  reward {logs['reward']:+.2f}  "
                f"pass rate {logs.get('codegym/pass_rate', 0.0):.2f}  "
                f"stages {self.curriculum.stage_histogram()}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--problems", type=int, default=3, help="training problems (least code left to write)"
    )
    parser.add_argument("--sft-steps", type=int, default=60)
    parser.add_argument("--steps", type=int, default=8, help="GRPO steps")
    parser.add_argument("--generations", type=int, default=4, help="completions per prompt")
    parser.add_argument("--max-completion-length", type=int, default=96)
    parser.add_argument("--save-steps", type=int, default=0, help="checkpoint every N steps")
    parser.add_argument("--output-dir", default="runs/trl_grpo")
    args = parser.parse_args()

    torch.manual_seed(0)
    everything = load("bundled", split="train")
    staged = Curriculum(everything)

    def left_to_write(p) -> int:  # noqa: ANN001  (characters after the longest prefix)
        stage = staged.n_stages(p.id) - 1
        return len(p.canonical_solution) - len(staged.prefix(p.id, stage) if stage else "")

    problems = sorted(everything, key=left_to_write)[: args.problems]
    path = build_tiny(everything, os.path.join(args.output_dir, "tiny"))
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    curriculum = Curriculum(problems, window=4)
    warm_start(model, tokenizer, problems, curriculum, args.sft_steps)

    config = GRPOConfig(
        output_dir=args.output_dir,
        per_device_train_batch_size=2 * args.generations,
        num_generations=args.generations,
        max_completion_length=args.max_completion_length,
        max_steps=args.steps,
        learning_rate=2e-4,
        beta=0.0,
        logging_steps=1,
        save_strategy="steps" if args.save_steps else "no",
        save_steps=args.save_steps or 500,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    trainer = GRPOTrainer(
        model=model,
        processing_class=tokenizer,
        args=config,
        train_dataset=cg.dataset(problems, split=None, curriculum=curriculum),
        reward_funcs=cg.reward_function(problems, curriculum=curriculum),
        rollout_func=cg.rollout_func(problems, curriculum=curriculum),
        callbacks=[cg.curriculum_callback(curriculum), PrintProgress(curriculum)],
    )
    trainer.remove_callback(PrinterCallback)  # PrintProgress prints a shorter line
    print(f"{len(problems)} problems; stages at the start: {curriculum.stage_histogram()}")
    trainer.train()
    curriculum.save(os.path.join(args.output_dir, "curriculum.json"))
    print(f"final stages: {curriculum.stage_histogram()}; saved to {args.output_dir}")


if __name__ == "__main__":
    main()
