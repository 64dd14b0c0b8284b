"""A local llama.cpp HTTP server (xllamacpp) in a child process on 127.0.0.1.

The server runs in its own process so that a crash of the C++ side cannot take
the job with it, so that it can be killed for sure, and so that its threads do
not compete with the job's Python for the GIL. The child binds port 0 (the
kernel picks a free port, no race between choosing and binding) and prints the
address it listens on; the parent waits for ``GET /health`` to answer 200.

Run as ``python -m musicrec.synth.server --model FILE ...`` it is that child.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

LISTENING_PREFIX = "MUSICREC-SERVER-LISTENING "


class ServerError(RuntimeError):
    """The local teacher server did not start, or died."""


@dataclass(frozen=True)
class ServerSettings:
    """How to run the local server: the GGUF file and llama.cpp's knobs."""

    model_path: str
    alias: str  # the model name the server answers to (the OpenAI ``model`` field)
    n_ctx: int = 4096  # context shared by all slots: each of n_parallel gets n_ctx / n_parallel
    n_parallel: int = 1  # request slots decoded together (continuous batching)
    n_threads: int = 2
    api_key: str | None = None  # the server refuses requests without it (tests of the bad-key path)
    startup_timeout_s: float = 120.0
    extra_env: dict = field(default_factory=dict)


def _child_command(settings: ServerSettings) -> list[str]:
    command = [
        sys.executable, "-m", "musicrec.synth.server",
        "--model", settings.model_path, "--alias", settings.alias,
        "--ctx", str(settings.n_ctx), "--parallel", str(settings.n_parallel),
        "--threads", str(settings.n_threads),
    ]
    return command


def health(base_url: str, timeout_s: float = 2.0) -> int | None:
    """HTTP status of ``{base_url}/health`` (without ``/v1``), None when nothing answers."""
    root = base_url.rstrip("/").removesuffix("/v1")
    try:
        with urllib.request.urlopen(f"{root}/health", timeout=timeout_s) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None


class LocalServer:
    """Context manager: start the child, wait until healthy, yield; always stop it.

    ``base_url`` (``http://127.0.0.1:PORT/v1``) is set once started. ``stop`` is
    idempotent and is also called from ``__exit__`` and from a SIGTERM handler the
    manager installs for its lifetime (Snakemake and SLURM stop jobs with SIGTERM).
    """

    def __init__(self, settings: ServerSettings, log=None):
        self.settings = settings
        self.base_url: str | None = None
        self.process: subprocess.Popen | None = None
        self._log = log if log is not None else sys.stderr
        self._tail: deque[str] = deque(maxlen=40)
        self._previous_sigterm = None
        self.startup_seconds: float | None = None

    # -- life cycle --------------------------------------------------------------
    def start(self) -> str:
        if not Path(self.settings.model_path).is_file():
            raise ServerError(f"teacher model file {self.settings.model_path} does not exist")
        started = time.perf_counter()
        env = dict(os.environ, **self.settings.extra_env)
        if self.settings.api_key:
            env["MUSICREC_SERVER_API_KEY"] = self.settings.api_key
        src = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            _child_command(self.settings), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE, text=True, env=env, start_new_session=True,
        )
        # One thread reads the child's output from the start: it finds the address line and
        # keeps draining, so a chatty server never blocks on a full pipe and a silent one
        # cannot block the wait below past its deadline.
        self._address: str | None = None
        self._listening = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()
        if not self._listening.wait(self.settings.startup_timeout_s) or self._address is None:
            message = self._died_message(f"or hung without listening within {self.settings.startup_timeout_s:.0f} s")
            self.stop()
            raise ServerError(message)
        self.base_url = f"{self._address}/v1"
        deadline = time.monotonic() + self.settings.startup_timeout_s
        while health(self.base_url) != 200:
            if self.process.poll() is not None:
                raise ServerError(self._died_message("while loading"))
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"local teacher server at {self.base_url} not healthy after "
                                  f"{self.settings.startup_timeout_s:.0f} s")
            time.sleep(0.1)
        self.startup_seconds = time.perf_counter() - started
        return self.base_url

    def _drain(self) -> None:
        process = self.process
        if process is None or process.stdout is None:
            return
        for line in process.stdout:
            self._tail.append(line.rstrip())
            if self._address is None and line.startswith(LISTENING_PREFIX):
                self._address = line[len(LISTENING_PREFIX):].strip()
                self._listening.set()
        self._listening.set()  # the child's output ended: it exited

    def _died_message(self, when: str) -> str:
        code = self.process.poll() if self.process else None
        tail = "\n".join(self._tail)
        return (f"local teacher server ({self.settings.model_path}) exited {when} with code {code}; "
                f"last output:\n{tail}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> "LocalServer":
        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
        try:
            self.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.stop()
        finally:
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)
                self._previous_sigterm = None

    def _on_sigterm(self, signum, frame) -> None:
        self.stop()
        raise SystemExit(128 + signum)


# -- the child ---------------------------------------------------------------------
def _serve(args: argparse.Namespace) -> None:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}  # a set of names in this binding
    params.port = 0  # the kernel picks a free port
    params.n_ctx = args.ctx
    params.n_parallel = args.parallel
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.warmup = False
    # Reusing a previous request's KV cache changes the numerics of the shared prefix, so
    # greedy decoding could differ between a first run and its resume: recompute every prompt.
    params.cache_prompt = False
    api_key = os.environ.get("MUSICREC_SERVER_API_KEY")
    if api_key:
        params.api_keys = [api_key]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = xllamacpp.Server(params)  # loads the model, then listens on 127.0.0.1
    print(LISTENING_PREFIX + server.listening_address, flush=True)
    # Also stop when the parent goes away (its end of stdin closes).
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    del server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    _serve(parser.parse_args(argv))


if __name__ == "__main__":
    main()
