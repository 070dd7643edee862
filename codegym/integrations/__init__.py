"""Adapters to other trainers: :mod:`codegym.integrations.trl` (TRL's ``GRPOTrainer``) and
:mod:`codegym.integrations.verl` (verl's custom reward function and parquet datasets).

Each imports its framework lazily, inside the functions that need it, so importing codegym never
pulls in TRL, datasets or pyarrow.
"""
