"""What a workflow job says on the console, beside what it writes to its log.

Every workflow script sends ``sys.stderr`` to its log file first thing, so a
job's traceback ends up only there and Snakemake's console shows the failed
rule with ``message: None``. :func:`report_errors_on_console` makes an uncaught
exception also print its one-paragraph message (the file, row or key and what
was expected, as every error here is worded) on the job's original stderr,
which Snakemake shows on the console and SLURM keeps in the job's output file.
The full traceback still goes to the log.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from types import TracebackType

MAX_CONSOLE_CHARS = 4000  # a message that lists thousands of tracks is cut here; the log keeps all of it


def report_errors_on_console(job: str) -> None:
    """Install a ``sys.excepthook`` that prints ``"<job> failed: <Type>: <message>"`` to the console.

    Call it right after ``sys.stderr = open(snakemake.log[0], "w")``. The
    previous hook still runs afterwards, so the traceback reaches the log.
    """
    previous = sys.excepthook

    def hook(kind: type[BaseException], error: BaseException, traceback: TracebackType | None) -> None:
        console = sys.__stderr__
        if console is not None and console is not sys.stderr:
            message = str(error)
            if len(message) > MAX_CONSOLE_CHARS:
                message = message[:MAX_CONSOLE_CHARS] + " [...] (the log has the full message)"
            print(f"{job} failed: {kind.__name__}: {message}", file=console, flush=True)
        previous(kind, error, traceback)

    sys.excepthook = hook


def console_line(text: str) -> None:
    """Print one line on the job's original stdout (the console), whatever ``sys.stdout`` is now."""
    stream = sys.__stdout__ if sys.__stdout__ is not None else sys.stdout
    print(text, file=stream, flush=True)


@contextlib.contextmanager
def native_output_to_log() -> Iterator[None]:
    """Send what native libraries write to file descriptor 2 into ``sys.stderr`` (the job log) meanwhile.

    TensorFlow's C++ side prints its start-up lines (oneDNN, CUDA drivers,
    ``absl::InitializeLog``) straight to descriptor 2, before any log level
    applies, so they bypass the script's ``sys.stderr`` and land on the
    console. Inside this block descriptor 2 points at ``sys.stderr``'s file;
    afterwards it is the console again, for :func:`report_errors_on_console`.
    Does nothing when ``sys.stderr`` is descriptor 2 already or has no file.
    """
    try:
        target = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a StringIO, pytest's capture, a closed file
        target = 2
    if target == 2:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(target, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
