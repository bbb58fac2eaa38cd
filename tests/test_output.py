"""What a worker printed: the grader's own startup output is never the student's, and the rest is cut, not lost."""
from grader.output import KEEP_CHARACTERS, PrintedOutput
from grader.wire import READY_MARKER


def test_startup_output_before_the_marker_is_the_graders_even_when_the_marker_arrives_in_pieces():
    printed = PrintedOutput()
    stream = b"UserWarning: Failed to initialize NumPy\n" + READY_MARKER + b"hello from the student\n"
    for start in range(0, len(stream), 5):  # the pipe may split it anywhere
        printed.add(stream[start:start + 5])
    assert printed.text() == "hello from the student\n"
    assert printed.startup_text() == "UserWarning: Failed to initialize NumPy"


def test_a_student_who_prints_the_marker_changes_nothing():
    printed = PrintedOutput()
    printed.add(READY_MARKER + b"before " + READY_MARKER + b"after")
    assert printed.text() == "before " + READY_MARKER.decode() + "after"


def test_output_past_the_limit_is_counted_and_said():
    printed = PrintedOutput()
    printed.add(READY_MARKER)
    for _ in range(100):
        printed.add(b"x" * 10_000)
    assert printed.text().startswith("x" * KEEP_CHARACTERS)
    assert printed.cut_bytes == 1_000_000 - KEEP_CHARACTERS
    assert printed.text().endswith(f"[... output cut: {1_000_000 - KEEP_CHARACTERS:,} more bytes not shown ...]")


def test_a_character_cut_in_half_where_keeping_stops_is_dropped():
    printed = PrintedOutput(keep_bytes=5)
    printed.add(READY_MARKER + "abcdé and more".encode())
    assert printed.shown() == "abcd"


def test_a_kept_worker_s_output_ends_at_its_marker_wherever_the_pipe_splits_it():
    """What a worker prints once it has forgotten a submission (grader.isolation.kept) is no submission's."""
    marker = b"0123456789abcdef0123456789abcdef"
    stream = READY_MARKER + b"the student's last words\n" + marker + b"nobody's"
    for size in (1, 5, 31, 32, 33, len(stream)):
        printed = PrintedOutput()
        printed.add(stream[:len(READY_MARKER) + 3])
        printed.ending(marker)
        rest = stream[len(READY_MARKER) + 3:]
        for start in range(0, len(rest), size):
            printed.add(rest[start:start + size])
        assert printed.ended and printed.text() == "the student's last words\n", size


def test_output_held_back_for_a_marker_that_never_came_is_the_student_s():
    printed = PrintedOutput()
    printed.add(READY_MARKER)
    printed.ending(b"0123456789abcdef0123456789abcdef")
    printed.add(b"cut short")
    printed.never_ended()
    printed.add(b" by a crash")
    assert not printed.ended and printed.text() == "cut short by a crash"


def test_a_reused_worker_s_output_is_the_next_submission_s_from_its_first_byte():
    printed = PrintedOutput()
    printed.worker_reused()
    printed.add(b"hello")
    assert printed.text() == "hello" and printed.startup_text() == ""
