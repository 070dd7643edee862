"""codegym as TRL's GRPO reward, dataset, CCCS transform and FGO rollout."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from sample_problems import CLASSIFY, CLASSIFY_SOLUTION, MAX_EVEN, MAX_EVEN_SOLUTION  # noqa: E402

from codegym.curriculum import Curriculum  # noqa: E402
from codegym.errors import ConfigError  # noqa: E402
from codegym.integrations import trl as cg  # noqa: E402
from codegym.integrations._common import extract_code, score_batch, token_mask  # noqa: E402

datasets = pytest.importorskip("datasets")

PROBLEMS = [MAX_EVEN, CLASSIFY]


def test_extract_code_handles_fences_prose_and_continuations():
    assert extract_code("x = 1\nprint(x)\n", open_fence=False) == ("x = 1\nprint(x)\n", 0)
    text = "Here it is:\n```python\nprint(1)\n```\nDone."
    code, start = extract_code(text, open_fence=False)
    assert code == "print(1)\n" and text[start:].startswith("print(1)")
    assert extract_code("```\nprint(2)\n", open_fence=False)[0] == "print(2)\n"  # unterminated
    assert extract_code("```text\nhi\n```", open_fence=False)[0] == "```text\nhi\n```"
    # a continuation of the prompt's open fence stops at the closing fence
    assert extract_code("    return 1\n```\nExplanation", open_fence=True) == ("    return 1\n", 0)


def test_reward_function_scores_a_mixed_batch_in_one_call(executor):
    reward = cg.reward_function(PROBLEMS, executor=executor)
    plain = cg.build_prompt(CLASSIFY, CLASSIFY.starter_code)  # ends inside ```python + starter
    chat = cg.build_prompt(MAX_EVEN, style="chat")
    body = CLASSIFY_SOLUTION[len(CLASSIFY.starter_code) :]
    metrics: dict[str, float] = {}
    extra: dict[str, list] = {}
    rewards = reward(
        prompts=[plain, chat, chat, chat, plain, chat],
        completions=[
            body + "```\nThat is all.",  # continues the starter code
            [{"role": "assistant", "content": f"Sure:\n```python\n{MAX_EVEN_SOLUTION}```"}],
            [{"role": "assistant", "content": "```python\nprint(0)\n```"}],  # wrong answer
            [{"role": "assistant", "content": "I cannot solve this."}],  # no code
            "    return 1 / 0\n",  # runtime error
            "print(1)",
        ],
        completion_ids=[[0]] * 6,
        problem_id=["classify", "max-even", "max-even", "max-even", "classify", "no-such"],
        log_metric=lambda name, value: metrics.__setitem__(name, value),
        log_extra=lambda column, values: extra.__setitem__(column, values),
    )
    assert rewards == [1.0, 1.0, -0.3, -1.0, -0.6, None]
    assert extra["outcome"] == [
        "passed", "passed", "wrong_answer", "compile_error", "runtime_error", "unknown_problem",
    ]  # fmt: skip
    assert metrics["codegym/pass_rate"] == pytest.approx(2 / 5)
    assert metrics["codegym/passed"] == pytest.approx(2 / 5)
    assert reward(prompts=[], completions=[], problem_id=[]) == []
    with pytest.raises(ConfigError, match="problem_id"):
        reward(prompts=["x"], completions=["print(1)"])


def test_reward_function_alternatives_and_bad_settings(executor):
    fraction = cg.reward_function(PROBLEMS, reward="pass_fraction", executor=executor)
    prompt = cg.build_prompt(CLASSIFY, CLASSIFY.starter_code)
    wrong = '    return "prime"\n'  # right for one of five tests
    assert fraction(prompts=[prompt], completions=[wrong], problem_id=["classify"]) == [0.2]
    assert fraction.__name__ == "codegym_pass_fraction"
    with pytest.raises(ConfigError):
        cg.reward_function(PROBLEMS, reward="stepcoderr")
    with pytest.raises(ConfigError):
        cg.dataset(PROBLEMS, split=None, prompt_style="markdown")


def test_dataset_styles():
    plain = cg.dataset(PROBLEMS, split=None)
    assert plain.column_names == ["prompt", "problem_id", "stage", "code_prefix"]
    row = plain[1]
    assert row["problem_id"] == "classify" and row["stage"] == 0
    assert row["prompt"].endswith("```python\n" + CLASSIFY.starter_code)
    assert row["code_prefix"] == CLASSIFY.starter_code
    chat = cg.dataset(PROBLEMS, split=None, prompt_style="chat", system_prompt="Be brief.")
    messages = chat[0]["prompt"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert MAX_EVEN.statement in messages[1]["content"]


def test_cccs_prompts_follow_the_curriculum_as_rewards_arrive(executor):
    curriculum = Curriculum(PROBLEMS, window=2)
    data = cg.dataset(PROBLEMS, split=None, curriculum=curriculum)
    reward = cg.reward_function(PROBLEMS, curriculum=curriculum, executor=executor)
    row = data[0]
    assert row["problem_id"] == "max-even" and row["stage"] == 2  # the longest prefix first
    assert row["prompt"].endswith(row["code_prefix"]) and row["code_prefix"]
    rest = MAX_EVEN_SOLUTION[len(row["code_prefix"]) :]
    rewards = reward(
        prompts=[row["prompt"]] * 2,
        completions=[rest, rest],
        problem_id=[row["problem_id"]] * 2,
        code_prefix=[row["code_prefix"]] * 2,
        stage=[row["stage"]] * 2,
    )
    assert rewards == [1.0, 1.0]
    moved = data[0]  # the same problem, sampled again: one stage closer to the full task
    assert moved["stage"] == 1 and len(moved["code_prefix"]) < len(row["code_prefix"])
    assert data[1]["stage"] == curriculum.n_stages("classify") - 1  # untouched


def test_replay_prompts_stages_already_passed(executor):
    curriculum = Curriculum(PROBLEMS, window=1, replay=0.5)
    data = cg.dataset(PROBLEMS, split=None, curriculum=curriculum)
    reward = cg.reward_function(PROBLEMS, curriculum=curriculum, executor=executor)
    row = data[0]
    rest = MAX_EVEN_SOLUTION[len(row["code_prefix"]) :]
    reward(
        prompts=[row["prompt"]], completions=[rest], problem_id=["max-even"],
        code_prefix=[row["code_prefix"]], stage=[row["stage"]],
    )  # fmt: skip
    assert curriculum.stage("max-even") == 1
    stages = {data[0]["stage"] for _ in range(60)}
    assert stages == {1, 2}  # the current stage, and the passed one about half the time


def test_fgo_token_mask_zeroes_unexecuted_lines(executor):
    prompt = cg.build_prompt(MAX_EVEN, "")
    completion = (
        "n = int(input())\n"
        "xs = list(map(int, input().split()))\n"
        "if n < 0:\n"
        "    print('never')\n"
        "print(max(xs), sum(x for x in xs if x % 2 == 0))\n"
        "```\n"
    )
    [scored] = score_batch(executor, [(MAX_EVEN, "", completion, True)])
    assert scored.result.passed
    pieces = list(completion)  # one "token" per character
    mask = token_mask([piece.count("\n") for piece in pieces], completion, scored)
    per_line = [set() for _ in completion.split("\n")]
    line = 0
    for piece, m in zip(pieces, mask):
        per_line[line].add(m)
        line += piece.count("\n")
    assert per_line[:6] == [{1}, {1}, {1}, {0}, {1}, {1}]  # line 4 never ran; the fence keeps 1
    assert prompt.endswith("```python\n")


def test_curriculum_callback_saves_into_checkpoints(tmp_path):
    pytest.importorskip("transformers")
    from transformers import TrainerControl, TrainerState, TrainingArguments

    curriculum = Curriculum(PROBLEMS, window=1)
    curriculum.record("max-even", 2, True)
    callback = cg.curriculum_callback(curriculum)
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    state = TrainerState(global_step=3)
    callback.on_save(args, state, TrainerControl())
    saved = tmp_path / "checkpoint-3" / "codegym_curriculum.json"
    assert saved.exists()
    fresh = Curriculum(PROBLEMS, window=1)
    cg.curriculum_callback(fresh).on_train_begin(args, state, TrainerControl())
    assert fresh.stage("max-even") == 1


@pytest.mark.slow
def test_grpo_trainer_learns_with_codegym_reward_cccs_and_fgo(tmp_path, executor):
    """A real GRPOTrainer on the CPU: the tiny GPT-2, briefly taught the two problems' canonical
    completions so that some samples pass, then a few GRPO steps with codegym's reward, the CCCS
    dataset and the FGO rollout."""
    torch = pytest.importorskip("torch")
    trl = pytest.importorskip("trl")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from codegym.agents.tiny import build_tiny
    from codegym.problems import load

    torch.manual_seed(0)
    path = build_tiny(load(split="train"), str(tmp_path / "tiny"), seed=0)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    curriculum = Curriculum(PROBLEMS, window=2)
    pairs = []  # (prompt, completion) at every stage, as the CCCS dataset builds them
    for p in PROBLEMS:
        for stage in range(curriculum.n_stages(p.id)):
            start = cg._start_code(p, stage)
            completion = p.canonical_solution[len(start) :] + "```"
            pairs.append(
                (tokenizer.encode(cg.build_prompt(p, start)), tokenizer.encode(completion))
            )
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(40):
        loss = sum(
            model(
                input_ids=torch.tensor([c + y + [tokenizer.eos_token_id]]),
                labels=torch.tensor([[-100] * len(c) + y + [tokenizer.eos_token_id]]),
            ).loss
            for c, y in pairs
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    masks: list[list[int]] = []
    fgo = cg.rollout_func(PROBLEMS, curriculum=curriculum, executor=executor)

    def rollout(prompts, trainer):
        out = fgo(prompts, trainer)
        masks.extend(out["env_mask"])
        return out

    reward = cg.reward_function(PROBLEMS, curriculum=curriculum, executor=executor)
    config = trl.GRPOConfig(
        output_dir=str(tmp_path / "grpo"),
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=48,
        max_steps=4,
        learning_rate=2e-4,
        beta=0.0,  # the loss is GRPO's policy term alone
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        seed=0,
    )
    trainer = trl.GRPOTrainer(
        model=model,
        processing_class=tokenizer,
        reward_funcs=reward,
        args=config,
        train_dataset=cg.dataset(PROBLEMS, split=None, curriculum=curriculum),
        rollout_func=rollout,
        callbacks=[cg.curriculum_callback(curriculum)],
    )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    start_stages = {p.id: curriculum.stage(p.id) for p in PROBLEMS}
    trainer.train()

    logs = [h for h in trainer.state.log_history if "reward_std" in h]
    assert len(logs) == 4
    assert any(h["reward_std"] > 0 for h in logs)  # rewards vary within groups
    assert any(h.get("codegym/pass_rate", 0) > 0 for h in logs)
    assert any(curriculum.stage(pid) < stage for pid, stage in start_stages.items())
    assert masks and any(0 in m for m in masks)  # FGO masked some unexecuted code
    # The only optimizer is GRPO's, with no KL term and no weight decay: any change is its gradient.
    assert config.weight_decay == 0.0
    changed = max((model.state_dict()[k] - before[k]).abs().max().item() for k in before)
    assert changed > 0
