"""Find the students in a class download: one entry per student, with the id recovered from LMS file names."""
import hashlib
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from grader.errors import UsageError
from grader.results import LmsId

GRADABLE_SUFFIXES = (".py", ".ipynb", ".zip")
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024

# File names as learning-management systems rename them; each pattern's `id` group is the student id, and its
# `lms_id` group the LMS's own number for the student (see LmsId), where the name carries one.
LMS_PATTERNS = (
    # Canvas: login[_late]_userid_submissionid_original.py
    ("canvas", re.compile(r"^(?P<id>[^_]+)_(?:late_)?(?P<lms_id>\d+)_\d+_.+$", re.IGNORECASE)),
    # Moodle: Full Name_12345_assignsubmission_file_[original.py] (12345: the participant id)
    ("moodle", re.compile(r"^(?P<id>.+?)_(?P<lms_id>\d+)_assignsubmission_(?:file|onlinetext)_.*$")),
    # Blackboard: Assignment_username_attempt_2026-11-27-10-30-00[_original.py]
    ("blackboard", re.compile(r"^.+?_(?P<id>[^_]+)_attempt_\d{4}(?:-\d{2}){5}(?:_.*)?$")),
    # A student id and a submission number before the original name: id_3_original.py
    (None, re.compile(r"^(?P<id>[^_]+)_\d+_.+$")),
)


@dataclass(frozen=True)
class Entry:
    """One student's submission as found in the class folder."""
    student: str
    path: Path  # the entry as downloaded: a file, a folder or a zip
    problem: str | None = None  # why it cannot be graded (e.g. two entries for one student)
    lms_id: LmsId | None = None  # kept for gradebook exports (grader.platforms.gradebooks)


def student_id(entry: Path) -> str:
    """The student id an entry's name stands for: the name without suffix, undone of LMS renaming."""
    return identify(entry)[0]


def identify(entry: Path) -> tuple[str, LmsId | None]:
    """(student id, the LMS's number for the student if the name carries one) for an entry."""
    stem = entry.name if entry.is_dir() else entry.name[: -len(entry.suffix)] if entry.suffix else entry.name
    lms_id = None
    for lms, pattern in LMS_PATTERNS:
        match = pattern.match(entry.name)
        if match:
            stem = match.group("id")
            lms_id = LmsId(lms, match.group("lms_id")) if "lms_id" in pattern.groupindex else None
            break
    return safe_id(stem), lms_id


def safe_id(name: str) -> str:
    """A student id usable as a file name: runs of other characters become one underscore."""
    return re.sub(r"[^\w.@+-]+", "_", name).strip("._") or "student"


def find_entries(submissions_dir: Path) -> tuple[list[Entry], list[str]]:
    """The class's entries sorted by student id, and the names that were skipped as not gradable.

    Entries whose names map to one id but carry different LMS numbers (two Moodle students with one full name)
    stay two students, each id suffixed with its number.
    """
    if not submissions_dir.exists():
        raise UsageError(f"submissions folder not found: {submissions_dir}")
    if not submissions_dir.is_dir():
        raise UsageError(f"not a folder: {submissions_dir} (give the folder that holds one entry per student)")
    by_student: dict[str, list[tuple[Path, LmsId | None]]] = {}
    skipped = []
    for path in sorted(submissions_dir.iterdir()):
        if path.name.startswith((".", "__")):
            continue
        if path.is_dir() or path.suffix in GRADABLE_SUFFIXES:
            student, lms_id = identify(path)
            by_student.setdefault(student, []).append((path, lms_id))
        else:
            skipped.append(path.name)
    if not by_student:
        raise UsageError(f"no submissions in {submissions_dir}: expected .py, .ipynb or .zip files or folders")
    entries = []
    for student, found in sorted(by_student.items()):
        numbers = [lms_id for _, lms_id in found]
        if len(found) > 1 and None not in numbers and len(set(numbers)) == len(numbers):
            entries += [Entry(f"{student}_{lms_id.id}", path, None, lms_id) for path, lms_id in found]
            continue
        problem = None
        if len(found) > 1:
            problem = (f"several entries map to student {student}: {', '.join(p.name for p, _ in found)}; "
                       "keep one")
        entries.append(Entry(student, found[0][0], problem, found[0][1]))
    # A suffixed id can meet an entry already named so (Ann_Lee_201.py): one student, two entries, as above.
    by_id: dict[str, list[Entry]] = {}
    for entry in entries:
        by_id.setdefault(entry.student, []).append(entry)
    entries = [same[0] if len(same) == 1 else
               Entry(student, same[0].path, f"several entries map to student {student}: "
                                            f"{', '.join(e.path.name for e in same)}; keep one")
               for student, same in by_id.items()]
    return sorted(entries, key=lambda e: e.student), skipped


def content_hash(path: Path) -> str:
    """A hash of everything an entry holds (file bytes, or a folder's files and their relative names)."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(file.relative_to(path if path.is_dir() else path.parent).as_posix().encode() + b"\0")
        digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()


def unpack(entry: Entry, work_dir: Path) -> Path:
    """The path to grade: a zip is extracted under work_dir; a folder with one sub-folder is descended into.

    Raises ValueError with a message for the student's report when a zip is broken or holds nothing gradable.
    """
    path = entry.path
    if path.suffix == ".zip" and path.is_file():
        target = work_dir / entry.student
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        _extract(path, target)
        path = target
    while path.is_dir():
        # nbgrader's submitted/<student>/<assignment>/ and zips of one folder: look one level down.
        children = [p for p in path.iterdir() if not p.name.startswith((".", "__"))]
        gradable = [p for p in children if p.is_file() and p.suffix in (".py", ".ipynb")]
        folders = [p for p in children if p.is_dir()]
        if gradable or len(folders) != 1:
            break
        path = folders[0]
    if path.is_dir() and not any(p.suffix in (".py", ".ipynb") for p in path.iterdir()):
        raise ValueError(f"{entry.path.name} holds nothing gradable (no .py or .ipynb file)")
    return path


def _extract(zip_path: Path, target: Path):
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if sum(m.file_size for m in members) > MAX_UNZIPPED_BYTES:
                raise ValueError(f"{zip_path.name} unpacks to more than {MAX_UNZIPPED_BYTES // 2**20} MB")
            for member in members:
                name = Path(member.filename)
                if name.is_absolute() or ".." in name.parts or "__MACOSX" in name.parts:
                    continue
                destination = target / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, open(destination, "wb") as out:
                    shutil.copyfileobj(source, out)
    except zipfile.BadZipFile:
        raise ValueError(f"{zip_path.name} is not a valid zip file") from None
