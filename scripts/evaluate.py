"""Evaluate a saved agent: the metric suite -> metrics.json (+ acceptance block and PNG summary).

    python scripts/evaluate.py runs/X/checkpoint.pt
    python scripts/evaluate.py runs/X/checkpoint.pt --out-dir eval/X --eval-samples 2000

Exit codes: 0 done, 2 bad flags or an unreadable, foreign or non-finite checkpoint (never executed).
"""

import sys

from agents.training.cli import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(argv, prog="evaluate.py")


if __name__ == "__main__":
    sys.exit(main())
