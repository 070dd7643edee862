"""codegym as verl's dataset and custom reward function, and verl datasets as codegym problems."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import multiprocessing
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sample_problems import CLASSIFY, CLASSIFY_SOLUTION, MAX_EVEN, MAX_EVEN_SOLUTION

import codegym.integrations.verl as cg_verl
from codegym.cli import main
from codegym.errors import ProblemLoadError
from codegym.problems import load

pytest.importorskip("pyarrow")

PROBLEMS = [MAX_EVEN, CLASSIFY]


def verl_reward_fn(path: str = cg_verl.__file__, name: str = "compute_score"):
    """The reward function as verl's ``reward.custom_reward_function.{path,name}`` loads it: verl's
    own loader when verl is installed, else the same steps (a module built from the file under a
    name of its own, executed, then the attribute)."""
    try:
        from verl.utils.import_utils import load_extern_object
    except ImportError:
        spec = importlib.util.spec_from_file_location(f"custom_module_{hash(path)}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return getattr(module, name)
    return load_extern_object(module_path=path, object_name=name)


def test_export_rows_carry_the_tests_and_route_to_codegym(tmp_path):
    rows = cg_verl.rows(PROBLEMS, split="train")
    assert len(rows) == 2
    row = rows[1]
    assert row["data_source"] == "codegym/custom" and row["ability"] == "code"
    assert (
        row["prompt"][-1]["role"] == "user" and CLASSIFY.statement in row["prompt"][-1]["content"]
    )
    assert row["extra_info"] == {
        "split": "train", "index": 1, "problem_id": "classify", "difficulty": "interview",
        "prompt_style": "chat", "code_prefix": CLASSIFY.starter_code,
    }  # fmt: skip
    truth = json.loads(row["reward_model"]["ground_truth"])
    assert row["reward_model"]["style"] == "rule"
    assert truth["tests"][0] == {"args": [-3], "expected": "negative"}


def test_cli_export_and_load_back(tmp_path, capsys):
    out = tmp_path / "train.parquet"
    assert main(["export", "verl", "bundled", str(out), "--split", "train"]) == 0
    assert "wrote 105 rows" in capsys.readouterr().out
    back = {p.id: p for p in load(out)}
    original = load("bundled", split="train")
    assert len(back) == len(original)
    for p in original:
        q = back[p.id]
        assert (q.tests, q.canonical_solution, q.mode, q.split) == (
            p.tests, p.canonical_solution, p.mode, p.split,
        )  # fmt: skip
        assert q.source == "bundled"  # the record keeps its own source


def test_compute_score_through_verls_path_and_name_loading():
    compute_score = verl_reward_fn()
    rows = {r["extra_info"]["problem_id"]: r for r in cg_verl.rows(PROBLEMS)}

    def score(pid, solution, **kw):
        r = rows[pid]
        return compute_score(
            r["data_source"], solution, r["reward_model"]["ground_truth"], r["extra_info"], **kw
        )

    passed = score("max-even", f"Here:\n```python\n{MAX_EVEN_SOLUTION}```\n")
    assert passed == {
        "score": 1.0,
        "acc": 1.0,
        "pass_fraction": 1.0,
        "outcome": "passed",
        "covered_fraction": pytest.approx(13 / 14),
        "infra_error": 0.0,
    }  # fmt: skip: no test has n == 0, so `print(0)` never runs
    # The chat reply repeats the starter code: the program is the reply itself.
    assert score("classify", f"```python\n{CLASSIFY_SOLUTION}```")["score"] == 1.0
    # ...or continues it.
    body = CLASSIFY_SOLUTION[len(CLASSIFY.starter_code) :]
    assert score("classify", body)["outcome"] == "passed"
    wrong = score("classify", '    if n < 0:\n        return "negative"\n    return "zero"\n')
    assert wrong["outcome"] == "wrong_answer" and wrong["pass_fraction"] == pytest.approx(0.4)
    assert wrong["score"] == -0.3
    assert score("classify", wrong_body := '    return "zero"\n', reward="binary")["score"] == 0.0
    assert score("classify", wrong_body, reward="pass_fraction")["score"] == pytest.approx(0.2)
    assert score("max-even", "I do not know.")["outcome"] == "compile_error"
    assert score("max-even", "")["outcome"] in ("wrong_answer", "runtime_error")
    start = time.monotonic()
    looping = score("max-even", "while True:\n    pass\n", cpu_time=0.5)
    assert looping["outcome"] == "timeout" and time.monotonic() - start < 20


def test_verls_own_config_loading_with_reward_kwargs():
    """verl's ``get_custom_reward_fn`` with the config keys a run sets (verl installed only)."""
    pytest.importorskip("verl")
    from omegaconf import OmegaConf
    from verl.trainer.ppo.reward import get_custom_reward_fn

    r = cg_verl.rows([CLASSIFY])[0]
    for path in (cg_verl.__file__, "pkg://codegym.integrations.verl"):
        config = OmegaConf.create(
            {
                "reward": {
                    "custom_reward_function": {
                        "path": path,
                        "name": "compute_score",
                        "reward_kwargs": {"reward": "pass_fraction"},
                    }
                }
            }
        )
        fn = get_custom_reward_fn(config)
        result = fn(
            data_source=r["data_source"],
            solution_str='    return "prime"\n',
            ground_truth=r["reward_model"]["ground_truth"],
            extra_info=r["extra_info"],
        )
        assert result["score"] == pytest.approx(0.2) and result["outcome"] == "wrong_answer"


def test_compute_score_from_threads_asyncio_and_a_forked_child():
    r = cg_verl.rows([MAX_EVEN])[0]
    args = (r["data_source"], MAX_EVEN_SOLUTION, r["reward_model"]["ground_truth"], r["extra_info"])
    with ThreadPoolExecutor(8) as pool:
        scores = list(pool.map(lambda _: cg_verl.compute_score(*args)["score"], range(16)))
    assert scores == [1.0] * 16

    async def many():
        return await asyncio.gather(*(cg_verl.compute_score_async(*args) for _ in range(8)))

    assert [s["score"] for s in asyncio.run(many())] == [1.0] * 8
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:  # each child makes its own pool after the fork
        assert [s["score"] for s in pool.starmap(cg_verl.compute_score, [args] * 4)] == [1.0] * 4


def test_verl_style_code_datasets_load_as_problems(tmp_path):
    stdin_truth = {"inputs": ["1 2\n", "5 5\n"], "outputs": ["3\n", "10\n"]}
    call_truth = {"fn_name": "add", "inputs": [[1, 2], [5, 5]], "outputs": [3, 10]}
    rows = [
        {
            "data_source": "apps",
            "prompt": [{"role": "user", "content": "Read a and b; print a + b."}],
            "ability": "code",
            "reward_model": {"style": "rule", "ground_truth": json.dumps(stdin_truth)},
            "extra_info": {"split": "train", "index": 0},
        },
        {
            "data_source": "taco",
            "prompt": [{"role": "user", "content": "Write add(a, b)."}],
            "ability": "code",
            "reward_model": {"style": "rule", "ground_truth": json.dumps(call_truth)},
            "extra_info": {"split": "test", "index": 7, "difficulty": "competition"},
        },
    ]
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    for path in (jsonl, parquet):
        a, b = load(path)
        assert (a.id, a.mode.value, a.split, a.source) == ("apps/0", "stdio", "train", "apps")
        assert (b.id, b.mode.value, b.fn_name, b.split) == ("taco/7", "call", "add", "test")
        assert b.difficulty.value == "competition"
        assert load(path, split="test") == [b]
    from codegym.sandbox import run

    assert run("a, b = map(int, input().split())\nprint(a + b)\n", a).passed
    assert run("def add(a, b):\n    return a + b\n", b).passed

    bad = tmp_path / "bad.jsonl"
    broken = dict(rows[0], reward_model={"style": "rule", "ground_truth": "{not json"})
    bad.write_text(json.dumps(broken) + "\n" + json.dumps(rows[1]) + "\n")
    with pytest.raises(ProblemLoadError, match=r"record 0.*reward_model.ground_truth.*not JSON"):
        load(bad)
    with pytest.warns(UserWarning, match="skipped 1 invalid"):
        assert [p.id for p in load(bad, skip_invalid=True)] == ["taco/7"]
