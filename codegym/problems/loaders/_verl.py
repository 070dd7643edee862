"""verl-style rows (:mod:`codegym.problems.verl_loader`): JSON(L) files among the record
layouts, parquet files by their suffix."""

from __future__ import annotations

from codegym.problems.loaders._registry import register_dir_layout, register_layout
from codegym.problems.verl_loader import is_verl_record, load_verl, verl_problem

register_layout(
    "verl",
    is_verl_record,
    verl_problem,
    expects="data_source, prompt, reward_model.ground_truth, extra_info",
    title="verl rows",
)
register_dir_layout("verl_parquet", lambda path: path.suffix == ".parquet", load_verl)
