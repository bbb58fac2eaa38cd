"""Which mutants give the reference's outputs: asked of probe.py in a subprocess, so that no mutant's code runs
in the harness. Its answers are JSON lines, checked on arrival."""
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class ProbeError(Exception):
    """The probing subprocess failed or answered something else than its JSON lines."""


@dataclass(frozen=True)
class Equivalence:
    equivalent: bool
    difference: str | None  # the first probe whose outcome differs


def check(reference_file: Path, mutant_files: list[Path], timeout: float = 3600) -> dict[Path, Equivalence]:
    """Each mutant file's equivalence to the reference on the probes of probe.py."""
    if not mutant_files:
        return {}
    done = subprocess.run([sys.executable, "-m", "benchmarks.mutation.probe", str(reference_file),
                           *map(str, mutant_files)], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise ProbeError(f"the probe exited with {done.returncode}: {done.stderr.strip()[-2000:]}")
    found = {}
    for line in done.stdout.splitlines():
        answer = json.loads(line)
        if set(answer) != {"file", "equivalent", "difference"} or not isinstance(answer["equivalent"], bool) \
                or not isinstance(answer["difference"], (str, type(None))):
            raise ProbeError(f"unexpected answer from the probe: {line[:200]}")
        found[Path(answer["file"])] = Equivalence(answer["equivalent"], answer["difference"])
    missing = set(map(Path, mutant_files)) - set(found)
    if missing:
        raise ProbeError(f"the probe did not answer for {len(missing)} mutants, e.g. {sorted(missing)[0]}")
    return found
