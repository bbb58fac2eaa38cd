"""What a submission printed: drained from its workers' output pipes, the first part kept, the rest counted.

The worker's stdout and stderr are the write end of a pipe, never a file, so the student's writes never fail
(a file would hit the file-size limit). The trusted side reads the pipe whenever it waits for the worker,
keeps the first KEEP_BYTES bytes and only counts the rest. What a worker writes before READY_MARKER, which
it writes itself before it runs any student code (the interpreter's own warnings, bubblewrap's errors), is
the grader's: kept apart and never shown as the student's output. Only the first marker counts, so a
student who prints it changes nothing. A kept worker (grader.isolation.kept) that forgets its submission
prints a marker of the grader's choosing, new each time: what it printed before is that submission's, and
nothing after is any submission's.
"""
import os

from grader.wire import READY_MARKER

KEEP_CHARACTERS = 8_000  # of the student's output, in the report
KEEP_BYTES = 4 * KEEP_CHARACTERS  # enough bytes for that many characters of UTF-8
STARTUP_BYTES = 16 * 1024  # of a worker's own output before it is ready


class PrintedOutput:
    """The output of every worker of one submission, in order."""

    def __init__(self, keep_bytes: int = KEEP_BYTES):
        self.keep_bytes = keep_bytes
        self.kept = bytearray()
        self.total_bytes = 0
        self.startup = bytearray()  # the current worker's output before it was ready
        self.in_startup = True
        self.pending = b""  # the end of the startup output, where the start of READY_MARKER may lie
        self.end_marker = None  # what a worker that is forgetting the submission prints once it has (see ending)
        self.ended = False

    def add(self, chunk: bytes):
        if self.ended:
            return  # a kept worker's, after it forgot this submission: no submission's
        if self.end_marker is not None:
            data = self.pending + chunk
            found = data.find(self.end_marker)
            if found >= 0:
                self.ended, self.pending = True, b""
                chunk = data[:found]
            else:
                self.pending = data[-(len(self.end_marker) - 1):]
                chunk = data[:len(data) - len(self.pending)]
        elif self.in_startup:
            data = self.pending + chunk
            found = data.find(READY_MARKER)
            if found < 0:
                self.pending = data[-(len(READY_MARKER) - 1):]
                self._startup(data[:len(data) - len(self.pending)])
                return
            self._startup(data[:found])
            self.in_startup, self.pending = False, b""
            chunk = data[found + len(READY_MARKER):]
        self.total_bytes += len(chunk)
        room = self.keep_bytes - len(self.kept)
        if room > 0:
            self.kept.extend(chunk[:room])

    def _startup(self, data: bytes):
        self.startup.extend(data[:max(0, STARTUP_BYTES - len(self.startup))])

    def drain(self, fd: int, most: int = 64) -> bool:
        """Read what fd holds now, without waiting (fd is non-blocking) and at most `most` chunks, so that a
        student who prints without end cannot keep the caller from its deadline; False once its writers are gone."""
        for _ in range(most):
            try:
                chunk = os.read(fd, 1 << 20)  # retried by Python itself when a signal interrupts it
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:
                return False
            self.add(chunk)
        return True

    def worker_starting(self):
        self.in_startup, self.startup, self.pending = True, bytearray(), b""

    def ending(self, marker: bytes):
        """The worker is forgetting this submission, and prints `marker` (known to the grader alone) once it has:
        what it printed before is this submission's, nothing after is."""
        self.end_marker, self.pending = marker, b""

    def never_ended(self):
        """The worker stopped before it printed the marker: what was held back waiting for it is the submission's."""
        held, self.end_marker, self.pending = self.pending, None, b""
        self.add(held)

    def worker_reused(self):
        """A kept worker that served another submission serves this one: it has no startup output."""
        self.in_startup, self.startup, self.pending = False, bytearray(), b""

    def startup_text(self) -> str:
        return bytes(self.startup + self.pending).decode("utf-8", errors="replace").strip()

    def shown(self) -> str:
        """The first KEEP_CHARACTERS characters of the student's output."""
        shown = self.kept.decode("utf-8", errors="replace")[:KEEP_CHARACTERS]
        if len(self.kept) < self.total_bytes and shown.endswith("\ufffd"):
            shown = shown[:-1]  # a character cut in half where keeping stopped
        return shown

    @property
    def cut_bytes(self) -> int:
        """Bytes of the student's output that the report does not show."""
        return self.total_bytes - len(self.shown().encode())

    def text(self) -> str:
        """What the report shows: the start of the output, with a line saying how much was cut."""
        cut = self.cut_bytes
        return self.shown() if cut <= 0 else self.shown() + f"\n[... output cut: {cut:,} more bytes not shown ...]"
