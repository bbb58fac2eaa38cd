"""The framing both backends share: requests and replies in `grader.wire` frames, the worker's greeting, and
why a worker that ended before its greeting could not start. A backend says how bytes move and how a worker
stops."""
import secrets
import time

from grader import wire
from grader.isolation.failures import StudentCrash, StudentTimeout, WorkerStartFailure
from grader.output import PrintedOutput


class WorkerChannel:
    """A running worker as the trusted side sees it: frames out, frames in, its printed output drained."""

    search_path: str | None = None  # where the worker finds a folder submission's own modules

    def _begin(self, printed: PrintedOutput):
        self.printed, self.ready = printed, False
        self.received = bytearray()  # read from the worker, not yet taken
        printed.worker_starting()

    def hand_to(self, printed: PrintedOutput):
        """A worker started ahead (grader.isolation.kept) now serves the submission whose output is `printed`."""
        self._begin(printed)

    def forget_submission(self, deadline: float) -> dict | None:
        """Have the worker forget the submission it served (a "reset" request, see grader.worker_state), and take
        in the rest of what that submission printed; returns what the worker says of its process, None where it
        did not say by the deadline."""
        marker = secrets.token_hex(16)  # unknown to the student's code: their output cannot end early
        self.printed.ending(marker.encode())
        try:
            self.send(wire.encode({"op": "reset", "marker": marker}), deadline)
            reply = self.receive(deadline)
            while not self.printed.ended:  # the worker printed the marker before it replied
                if remaining(deadline) <= 0:
                    raise StudentTimeout("the worker's output did not end")
                self._drain_output()
                time.sleep(0.001)
        except (StudentTimeout, StudentCrash, WorkerStartFailure):
            self.printed.never_ended()
            return None
        state = reply.get("ok") if isinstance(reply, dict) else None
        return state if isinstance(state, dict) else None

    def serve_next(self, printed: PrintedOutput):
        """A worker that forgot its last submission (forget_submission) now serves the one whose output is
        `printed`."""
        self.printed = printed
        printed.worker_reused()

    # --- what a backend provides -----------------------------------------------------------------

    def _write_some(self, view: memoryview, deadline: float) -> int:
        """Write what can be written of view by the deadline; raise StudentTimeout or StudentCrash."""
        raise NotImplementedError

    def _read_some(self, most: int, deadline: float) -> bytes | None:
        """Up to `most` bytes from the worker, b"" when it closed its end, None at the deadline."""
        raise NotImplementedError

    def _drain_output(self):
        """Take in what the worker printed so far."""
        raise NotImplementedError

    def death_reason(self) -> str:
        raise NotImplementedError

    def stop(self):
        raise NotImplementedError

    # --- the framing -----------------------------------------------------------------------------

    def send(self, frame: bytes, deadline: float):
        view = memoryview(frame)
        while view:
            view = view[self._write_some(view, deadline):]

    def _read(self, n: int, deadline: float) -> bytes:
        """n bytes of replies; each wait takes in all that arrived, so that one reply's frame (its lengths,
        header and blob) usually costs one wait and one read."""
        while len(self.received) < n:
            chunk = self._read_some(max(n - len(self.received), 1 << 16), deadline)
            if chunk is None:
                raise StudentTimeout("time limit reached")
            if not chunk:
                if not self.ready:
                    raise WorkerStartFailure(self._start_failure())
                raise StudentCrash(self.death_reason())
            self.received += chunk
        data = bytes(self.received[:n])
        del self.received[:n]
        return data

    def _start_failure(self) -> str:
        reason = self.death_reason().replace("the process running the submission", "it")
        self._drain_output()
        said = self.printed.startup_text().splitlines()
        return f"the worker could not start: {said[-1] if said else reason}"

    def _frame(self, deadline: float):
        try:
            json_len, blob_len = wire.split_lengths(self._read(wire.HEADER.size, deadline))
            header = self._read(json_len, deadline)
            blob = self._read(blob_len, deadline) if blob_len else b""
            return wire.decode(header, blob)
        except wire.WireError as exc:
            raise StudentCrash(f"the worker sent a malformed reply ({exc})") from None

    def receive(self, deadline: float):
        if not self.ready:
            # The worker says it is ready before it runs any student code (grader.output splits what it printed).
            if self._frame(deadline) != {"ready": True}:
                raise WorkerStartFailure("the worker could not start: it sent no greeting")
            self.ready = True
        return self._frame(deadline)


def remaining(deadline: float) -> float:
    return deadline - time.monotonic()


def exit_description(code: int | None) -> str:
    """Why a worker ended, from its exit code as subprocess gives it (-N: killed by signal N)."""
    import signal

    if code is None:
        return "the worker closed its reply pipe"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"the process running the submission was killed by signal {name}"
    return f"the process running the submission exited with status {code} (sys.exit or os._exit?)"


def ended_process(process) -> str:
    """Why a worker started as a process (a subprocess.Popen) ended, waiting a little for it to end."""
    import subprocess

    try:
        code = process.wait(timeout=2)
    except subprocess.TimeoutExpired:
        code = None
    return exit_description(code)
