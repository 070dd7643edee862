"""Small problems shared by the test modules (``tests/`` is on ``sys.path`` through conftest)."""

from __future__ import annotations

from codegym.problems import Problem
from codegym.sandbox import TestCase

# 5 conditional statements (for, if, for, if, if): ceil(sqrt(5)) = 3 stages. Stage 1 cuts before the
# `if` inside the second loop (a cut in the middle of a block), stage 2 before the last `if`.
MAX_EVEN_SOLUTION = """\
n = int(input())
xs = list(map(int, input().split()))
best = 0
for x in xs:
    if x > best:
        best = x
total = 0
for x in xs:
    if x % 2 == 0:
        total += x
if n == 0:
    print(0)
else:
    print(best, total)
"""
MAX_EVEN = Problem(
    id="max-even",
    statement="Read n and n integers; print the largest one and the sum of the even ones.",
    tests=(
        TestCase.stdio("3\n1 2 3\n", "3 2\n"),
        TestCase.stdio("4\n4 6 1 9\n", "9 10\n"),
        TestCase.stdio("2\n7 5\n", "7 0\n"),
    ),
    canonical_solution=MAX_EVEN_SOLUTION,
)

# A call problem with starter code; 4 conditional statements (if, if, for, if): 2 stages.
CLASSIFY_STARTER = "def classify(n):\n"
CLASSIFY_SOLUTION = """\
def classify(n):
    if n < 0:
        return "negative"
    if n == 0:
        return "zero"
    for d in range(2, n):
        if n % d == 0:
            return "composite"
    return "prime" if n > 1 else "one"
"""
CLASSIFY = Problem(
    id="classify",
    statement="Return 'negative', 'zero', 'one', 'prime' or 'composite' for the integer n.",
    tests=tuple(
        TestCase.call("classify", [n], expected)
        for n, expected in [
            (-3, "negative"),
            (0, "zero"),
            (1, "one"),
            (7, "prime"),
            (9, "composite"),
        ]
    ),
    canonical_solution=CLASSIFY_SOLUTION,
    mode="call",
    fn_name="classify",
    starter_code=CLASSIFY_STARTER,
    difficulty="interview",
)
