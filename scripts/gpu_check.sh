#!/usr/bin/env bash
# Grade the reference and a few hand-written mutants on CUDA in one short run, and print the scores.
# Usage: bash scripts/gpu_check.sh   (needs a CUDA device; one line per submission, exit 1 on a surprise).
# mask_not_buffer is left out on purpose: on a GPU its CPU mask breaks every forward, as it would for the student.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" - <<'PY'
import sys, tomllib
from pathlib import Path

import torch
from grader import grade

if not torch.cuda.is_available():
    sys.exit("gpu_check: no CUDA device")
expected = tomllib.loads(Path("tests/submissions/expected.toml").read_text())
checks = {"solutions": {"lose": [], "misconceptions": []}}
checks.update({f"tests/submissions/{name}.py": expected[name] for name in (
    "correct_where_bool_mask", "mask_includes_diagonal", "unscaled_scores",
    "scaled_by_model_dim", "dropout_in_eval", "dropout_on_context", "split_without_transpose")})
surprises = 0
for path, want in checks.items():
    report = grade(path, device="cuda")
    lost = sorted(c.concept.id for c in report.concepts if c.score < c.concept.points)
    named = {m for c in report.concepts for m in c.misconceptions}
    ok = report.status == "graded" and lost == sorted(want["lose"]) and set(want["misconceptions"]) <= named
    surprises += not ok
    print(f"{'ok ' if ok else 'BAD'} {path}: {report.score}/{report.max_score} lost={lost} named={sorted(named)}")
print(f"gpu_check on {torch.cuda.get_device_name()}: {len(checks) - surprises}/{len(checks)} as expected")
sys.exit(1 if surprises else 0)
PY
