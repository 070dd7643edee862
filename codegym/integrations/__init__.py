"""Adapters to other trainers. Each imports its framework lazily, inside the functions that need it."""
