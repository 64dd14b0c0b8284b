"""The teacher: one OpenAI-protocol client for a local llama.cpp server or any endpoint.

``open_teacher(settings, cache_path)`` is a context manager yielding a :class:`Teacher`:
with ``base_url`` unset it starts the packaged model in a local server (its file
hash verified first), otherwise it talks to the configured endpoint. Either way
a preflight runs before any work, so a missing server, an unknown model or a
refused key fails at once naming the config key.

``Teacher.ask(task)`` sends one structured request (``response_format`` =
json_schema), parses and validates the answer, and on a problem asks again with
a repair prompt that quotes the problems, up to ``max_repairs`` times; then the
task is rejected (returns None) and counted. Every HTTP call goes through the
SQLite :class:`~musicrec.synth.cache.CallCache`; thread-safe, so a job keeps
``concurrency`` requests in flight from a thread pool.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Iterator, Mapping

from musicrec.synth.cache import CachedAnswer, CallCache, call_key
from musicrec.synth.server import LocalServer, ServerSettings
from musicrec.synth.weights import PACKAGED_MODELS, packaged_file

CONFIG_PREFIX = "synth.teacher"


class TeacherError(RuntimeError):
    """The teacher cannot be used as configured (the message names the config key)."""


@dataclass(frozen=True)
class TeacherSettings:
    """``synth.teacher`` of the config (defaults live in the schema; these mirror it for the library)."""

    base_url: str | None = None  # an existing endpoint; None: start the packaged model locally
    model: str = "qwen2.5-coder-0.5b-instruct-q4_k_m"  # served model name, or the packaged model to start
    api_key_env: str | None = None  # environment variable holding the endpoint's key
    temperature: float = 0.0
    seed: int = 0
    max_tokens: int = 256
    max_repairs: int = 2
    concurrency: int = 2  # requests in flight per job (local server: its parallel slots)
    timeout_s: float = 600.0
    n_ctx: int = 4096  # local server: context per slot
    n_threads: int = 2  # local server
    model_cache: str | None = None  # where packaged models are assembled (None: ~/.cache/musicrec/models)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "TeacherSettings":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TeacherError(f"config {CONFIG_PREFIX}: unknown key(s) {unknown}; expected some of {sorted(known)}")
        return cls(**dict(values))


@dataclass(frozen=True)
class Task:
    """One structured question: the messages, the answer's schema, and its validator."""

    name: str  # schema name sent to the server ("cluster", "ranking")
    messages: list[dict]
    schema: dict
    validate: Callable[[Any], list[str]]  # parsed answer -> problems ([] when valid)


@dataclass
class TeacherStats:
    """Counters of one job (thread-safe through :meth:`add`)."""

    tasks: int = 0
    calls: int = 0  # HTTP requests actually made
    cache_hits: int = 0
    prompt_tokens: int = 0  # of the calls made
    completion_tokens: int = 0
    call_seconds: float = 0.0  # wall time of the calls made
    answers: int = 0  # answers looked at (calls + cache hits)
    json_invalid: int = 0  # answers that were not JSON
    invalid: int = 0  # answers that were JSON but failed validation
    truncated: int = 0  # answers cut by max_tokens
    repairs: int = 0
    rejected: int = 0  # tasks given up after max_repairs
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: float) -> None:
        with self._lock:
            for key, value in counts.items():
                setattr(self, key, getattr(self, key) + value)

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


def _api_key(settings: TeacherSettings) -> str:
    if settings.api_key_env is None:
        return "not-needed"  # the OpenAI client insists on some key; local servers ignore it
    key = os.environ.get(settings.api_key_env)
    if not key:
        raise TeacherError(f"config {CONFIG_PREFIX}.api_key_env: environment variable {settings.api_key_env!r} "
                           "is not set or empty")
    return key


class Teacher:
    """Structured, validated, cached requests to one served model."""

    def __init__(self, base_url: str, settings: TeacherSettings, cache: CallCache, model_identity: str,
                 served_model: str, api_key: str):
        import openai

        self.settings = settings
        self.base_url = base_url
        self.cache = cache
        self.model_identity = model_identity  # what the cache keys on: name + file hash when local
        self.served_model = served_model
        self.stats = TeacherStats()
        # No client-side retries: a dead server must fail the job, and the rerun resumes from the cache.
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=settings.timeout_s, max_retries=0)

    # -- preflight -----------------------------------------------------------------
    def preflight(self) -> None:
        """Check the endpoint answers, accepts the key and serves the model, before any work."""
        import openai

        try:
            served = [model.id for model in self._client.models.list().data]
        except openai.AuthenticationError as error:
            raise TeacherError(f"config {CONFIG_PREFIX}.api_key_env: {self.base_url} refused the key from "
                               f"${self.settings.api_key_env} ({error.status_code})") from None
        except openai.APIConnectionError:
            raise TeacherError(f"config {CONFIG_PREFIX}.base_url: no server reachable at {self.base_url}") from None
        except openai.APIStatusError as error:
            raise TeacherError(f"config {CONFIG_PREFIX}.base_url: {self.base_url}/models answered "
                               f"{error.status_code}; is it an OpenAI-compatible endpoint?") from None
        if self.served_model not in served:
            raise TeacherError(f"config {CONFIG_PREFIX}.model: {self.served_model!r} is not served at "
                               f"{self.base_url}; it serves {served}")

    # -- requests --------------------------------------------------------------------
    def _parameters(self, task: Task) -> dict:
        return {
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.max_tokens,
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": task.name, "schema": task.schema, "strict": True}},
        }

    def complete(self, messages: list[dict], parameters: dict) -> tuple[CachedAnswer, bool]:
        """One chat completion through the cache: ``(answer, was_cached)``."""
        import openai

        key = call_key(self.model_identity, messages, parameters, self.settings.seed)
        cached = self.cache.get(key)
        if cached is not None:
            self.stats.add(cache_hits=1)
            return cached, True
        started = time.perf_counter()
        try:
            response = self._client.chat.completions.create(
                model=self.served_model, messages=messages, seed=self.settings.seed, **parameters)
        except openai.APIConnectionError as error:
            raise TeacherError(f"teacher at {self.base_url} ({CONFIG_PREFIX}) stopped answering mid-run: {error}; "
                               "rerun to resume from the call cache") from None
        seconds = time.perf_counter() - started
        choice = response.choices[0]
        usage = response.usage
        answer = CachedAnswer(
            content=choice.message.content or "",
            prompt_tokens=int(usage.prompt_tokens) if usage else 0,
            completion_tokens=int(usage.completion_tokens) if usage else 0,
            seconds=seconds,
            finish_reason=choice.finish_reason,
        )
        self.cache.put(key, self.model_identity, answer)
        self.stats.add(calls=1, prompt_tokens=answer.prompt_tokens, completion_tokens=answer.completion_tokens,
                       call_seconds=seconds)
        return answer, False

    def ask(self, task: Task) -> Any | None:
        """The validated, parsed answer to ``task``, or None when rejected after the repairs."""
        self.stats.add(tasks=1)
        messages = list(task.messages)
        parameters = self._parameters(task)
        for attempt in range(self.settings.max_repairs + 1):
            answer, _ = self.complete(messages, parameters)
            self.stats.add(answers=1, truncated=int(answer.finish_reason == "length"))
            try:
                parsed = json.loads(answer.content)
            except json.JSONDecodeError as error:
                self.stats.add(json_invalid=1)
                problems = [f"the answer is not valid JSON ({error.msg} at character {error.pos})"]
            else:
                problems = task.validate(parsed)
                if not problems:
                    return parsed
                self.stats.add(invalid=1)
            if attempt < self.settings.max_repairs:
                self.stats.add(repairs=1)
                messages = messages + [
                    {"role": "assistant", "content": answer.content},
                    {"role": "user", "content": repair_prompt(problems)},
                ]
        self.stats.add(rejected=1)
        return None


def repair_prompt(problems: list[str]) -> str:
    listed = "\n".join(f"- {problem}" for problem in problems)
    return f"Your answer has these problems:\n{listed}\nAnswer again with corrected JSON only."


def model_identity(settings: TeacherSettings, local_sha256: str | None) -> str:
    """The cache's model key: the served name, plus the file hash for a local model."""
    if local_sha256:
        return f"{settings.model}@sha256:{local_sha256}"
    return f"{settings.model}@{settings.base_url}"


@contextlib.contextmanager
def open_teacher(settings: TeacherSettings, cache_path: str, log=None) -> Iterator[Teacher]:
    """A preflighted :class:`Teacher`; with ``base_url`` unset, a local server started and always stopped."""
    with CallCache(cache_path) as cache:
        if settings.base_url:
            api_key = _api_key(settings)
            teacher = Teacher(settings.base_url, settings, cache, model_identity(settings, None),
                              settings.model, api_key)
            teacher.preflight()
            yield teacher
            return
        if settings.model not in PACKAGED_MODELS or PACKAGED_MODELS[settings.model].archive_root:
            gguf = [name for name, m in PACKAGED_MODELS.items() if m.archive_root is None]
            raise TeacherError(f"config {CONFIG_PREFIX}.model: {settings.model!r} is no packaged model the local "
                               f"server can start (expected one of {gguf}), and {CONFIG_PREFIX}.base_url is unset")
        path = packaged_file(settings.model, settings.model_cache)
        server_settings = ServerSettings(
            model_path=str(path), alias=settings.model, n_ctx=settings.n_ctx * settings.concurrency,
            n_parallel=settings.concurrency, n_threads=settings.n_threads,
        )
        with LocalServer(server_settings, log=log) as server:
            teacher = Teacher(server.base_url, settings, cache,
                              model_identity(settings, PACKAGED_MODELS[settings.model].sha256),
                              settings.model, "not-needed")
            teacher.server = server
            teacher.preflight()
            yield teacher
