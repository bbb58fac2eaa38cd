"""python -m benchmarks.mutation [--sample N] [--seed S] [--jobs J] [--json PATH]: grade the mutants of the
reference and print the figures."""
import argparse
import json
import os
import random
import sys
from pathlib import Path

from benchmarks.mutation.run import HarnessError, run
from benchmarks.mutation.summary import render, to_json

LAST_RUN = Path(__file__).with_name("last_run.json")


def seed_from_environment() -> int:
    """MUTANT_SEED if set (to reproduce a run), else a new one."""
    return int(os.environ.get("MUTANT_SEED") or random.SystemRandom().randrange(2**32))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mutation", description=__doc__)
    parser.add_argument("--sample", type=int, default=None, help="grade N mutants drawn at random (default: all)")
    parser.add_argument("--seed", type=int, default=None, help="the sample's seed (default: MUTANT_SEED or new)")
    parser.add_argument("--jobs", type=int, default=None, help="grading processes (default: the cores)")
    parser.add_argument("--json", type=Path, default=LAST_RUN, help=f"every mutant's result (default: {LAST_RUN})")
    parser.add_argument("--keep", type=Path, default=None, help="grade in this folder and keep it")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else seed_from_environment()
    if args.sample is not None:
        print(f"MUTANT_SEED={seed}", flush=True)
    try:
        result = run(size=args.sample, seed=seed, jobs=args.jobs, work_dir=args.keep)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.json.write_text(json.dumps(to_json(result), indent=1) + "\n", encoding="utf-8")
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
