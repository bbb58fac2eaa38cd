"""Grade mutants as a class with the grader's own batch: one file per mutant, one report per file."""
import json
from pathlib import Path

from grader.batch.entries import student_id
from grader.batch.options import BatchOptions
from grader.batch.run import grade_class
from grader.results import Report


def grade(sources: dict[str, str], work_dir: Path, *, jobs: int | None = None, on_progress=None) -> dict[str, Report]:
    """Write each source as work_dir/class/<name>.py, grade the class into work_dir/out, and return the reports
    by name. A name the batch would read as another student id is an error, not a silent mix-up."""
    class_dir, out_dir = work_dir / "class", work_dir / "out"
    class_dir.mkdir(parents=True, exist_ok=True)
    names = {}
    for name, source in sources.items():
        path = class_dir / f"{name}.py"
        if student_id(path) != name:
            raise ValueError(f"the batch would call mutant file {path.name} {student_id(path)!r}")
        path.write_text(source, encoding="utf-8")
        names[name] = path
    grade_class(class_dir, out_dir, options=BatchOptions(jobs=jobs), force=True, on_progress=on_progress)
    return {name: Report.from_json(json.loads((out_dir / "reports" / f"{name}.json").read_text(encoding="utf-8")))
            for name in names}
