"""The backbone plug-in interface: what the extraction loop needs from an audio model.

A *backbone* is one configured embedding (a block under ``extraction.backbones``
in the config; the block's key is its name). A *plug-in* is the class that
implements it (the block's ``plugin`` key, by default the name), so one plug-in
can serve several backbones (e.g. two MusicNN layers).

Writing a plug-in
-----------------
1. Subclass :class:`Backbone` in ``musicrec/backbones/<module>.py`` and set the
   class attributes: ``plugin``, ``default_sample_rate``, ``min_seconds``,
   ``needs_audio``, ``default_batch_size``, ``devices``, ``precisions`` and
   ``plugin_options`` (your config keys and their defaults, e.g. ``weights``,
   ``layer``, ``pooling``). Import heavy frameworks (torch, TensorFlow) at the
   top of that module only: the registry imports it when the plug-in is used.
2. ``__init__(self, name, options)``: call ``super().__init__(name, options)``
   first (it rejects unknown keys, validates the common ones into
   ``self.settings`` and yours into ``self.params``), then load the model
   **once** for the whole job: weights, device, eval mode.
3. ``output_shape``: ``(d,)``, or ``(n_layers, d)`` for multi-layer extraction.
4. ``embed(audio, rows)``: ``audio`` is ``(B, n_samples)`` float32 mono at
   ``self.sample_rate``; all ``B`` clips have the same length because the
   extraction loop batches equal-length clips only, so no padding ever reaches
   a model and a clip's embedding cannot depend on its batch mates. ``rows`` are
   the clips' row indices in the full track list (``trackid_sorted.csv``);
   audio models ignore them, the random baseline uses nothing else (for it,
   ``needs_audio`` is False and ``audio`` is None). Return
   ``(B, *output_shape)`` float32. Pool over time inside ``embed``. ``B`` may
   be smaller than ``batch_size`` (the last clips of a length); ``embed`` is
   only ever called from one thread. Non-finite output rows are recorded as
   failures by the loop, so never replace them silently.
5. ``describe_model()``: the provenance the sidecar needs to reproduce the
   embedding: at least ``weights`` (an id or path, None if no weights),
   ``layer`` and ``pooling``; add checksums, versions, preprocessing.
6. If it holds resources (sessions, GPU memory), free them in ``close()``;
   backbones are context managers.
7. Register it in ``musicrec/backbones/__init__.py``:
   ``"name": "musicrec.backbones.<module>:<Class>"``, and give it an env
   ``envs/<plugin>.yaml`` (the workflow picks the env by plug-in name).

Common config keys (all optional) are listed in :data:`COMMON_OPTIONS`;
``device`` and ``precision`` values a plug-in cannot honour are errors, never
silently ignored.
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from musicrec.audio import ClipOffset, parse_offset

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")

# Keys every backbone block may hold, with what they mean.
COMMON_OPTIONS = {
    "plugin": "the plug-in implementing this backbone (default: the block's key)",
    "enabled": "whether the workflow extracts this backbone (read by the workflow)",
    "shards": "number of extraction jobs, each a contiguous slice of the tracks (read by the workflow)",
    "resources": "cluster resources of the extraction jobs (read by the workflow)",
    "seconds": "length in seconds of the clip cropped from each track (from `offset` on)",
    "offset": 'where the clip starts: seconds into the track (12.5) or a share of its length ("40%"); default 0',
    "batch_size": "clips per embed() call",
    "sample_rate": "override the plug-in's rate (Hz); a compatibility switch, e.g. to reproduce a paper's wrong rate",
    "device": f"one of {DEVICES}",
    "precision": f"one of {PRECISIONS}; 'auto' is the plug-in's native precision",
    "workers": "audio-decoding threads (0: decode in the calling thread; default: the job's threads)",
    "seed": "seed for anything random in the backbone (the workflow passes the global seed)",
}

DEFAULT_SECONDS = 30.0


@dataclass(frozen=True)
class ExtractionSettings:
    """The validated common keys of a backbone block."""

    seconds: float
    offset: ClipOffset
    batch_size: int
    workers: int | None
    device: str
    precision: str
    seed: int | None


class Backbone(abc.ABC):
    """An audio model turned into fixed-size track embeddings; see the module docstring.

    Attributes:
        name: the backbone's name (its config key).
        sample_rate: the rate (Hz) ``embed`` expects its clips at.
        settings: the validated common options.
        params: the plug-in options, defaults filled in.
    """

    plugin: ClassVar[str]
    default_sample_rate: ClassVar[int | None]
    min_seconds: ClassVar[float] = 0.0  # shorter clips are reported as bad audio
    needs_audio: ClassVar[bool] = True
    default_batch_size: ClassVar[int] = 8
    devices: ClassVar[tuple[str, ...]] = ("auto", "cpu")
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)  # the first is what 'auto' means
    plugin_options: ClassVar[Mapping[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        clashes = set(cls.plugin_options) & set(COMMON_OPTIONS)
        if clashes:
            raise TypeError(f"plug-in {cls.__name__} redefines common option(s) {sorted(clashes)}")

    def __init__(self, name: str, options: Mapping[str, Any] | None = None):
        """Validate ``options`` (the backbone's config block); subclasses then load their model."""
        self.name = name
        options = dict(options or {})
        unknown = sorted(set(options) - set(COMMON_OPTIONS) - set(self.plugin_options))
        if unknown:
            raise ValueError(
                f"backbone {name!r} (plug-in {self.plugin!r}): unknown option(s) {unknown}; "
                f"expected common keys {sorted(COMMON_OPTIONS)} or plug-in keys {sorted(self.plugin_options)}"
            )
        self.settings = self._common_settings(options)
        # Defaults are copied so that a plug-in editing its params never edits the class-wide defaults.
        self.params = {key: options.get(key, copy.deepcopy(default)) for key, default in self.plugin_options.items()}
        sample_rate = options.get("sample_rate", self.default_sample_rate)
        if self.needs_audio:
            sample_rate = self._check_positive_int("sample_rate", sample_rate)
        self.sample_rate: int | None = sample_rate

    @property
    @abc.abstractmethod
    def output_shape(self) -> tuple[int, ...]:
        """Shape of one track's embedding: ``(d,)`` or ``(n_layers, d)``."""

    @abc.abstractmethod
    def embed(self, audio: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
        """Embed one batch of equal-length clips.

        Args:
            audio: ``(B, n_samples)`` float32 mono at ``self.sample_rate``
                (None when ``needs_audio`` is False).
            rows: ``(B,)`` int64 row indices of the clips in the full track list.

        Returns:
            ``(B, *output_shape)`` float32; a clip's row never depends on the
            other clips of the batch.
        """

    @abc.abstractmethod
    def describe_model(self) -> dict[str, Any]:
        """Plug-in provenance: ``weights``, ``layer``, ``pooling`` and anything else needed to reproduce."""

    def describe(self) -> dict[str, Any]:
        """Everything the embedding's JSON sidecar records about how it was made (JSON-serialisable)."""
        shape = self.output_shape
        description = {
            "backbone": self.name,
            "plugin": self.plugin,
            "dim": int(shape[-1]),
            "output_shape": [int(size) for size in shape],
            "sample_rate": self.sample_rate,
            "seconds": self.settings.seconds if self.needs_audio else None,
            "min_seconds": self.min_seconds if self.needs_audio else None,
            "offset": self.settings.offset.describe() if self.needs_audio else None,
            "crop": self._crop_description() if self.needs_audio else None,
            "precision": self.precision,
        }
        description.update(self.describe_model())
        return description

    def _crop_description(self) -> str:
        offset = self.settings.offset
        if offset.fraction is None and offset.seconds == 0:
            return "first `seconds` of each file"
        return f"`seconds` from {offset.describe()} into each file, moved back to end with a shorter file"

    def close(self) -> None:
        """Release the model (sessions, GPU memory); the backbone cannot embed afterwards."""

    def __enter__(self) -> Backbone:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def precision(self) -> str:
        """The resolved precision ('auto' means the plug-in's first, native, precision)."""
        return self.precisions[0] if self.settings.precision == "auto" else self.settings.precision

    def option_error(self, key: str, value: Any, expected: str) -> ValueError:
        """A ValueError naming this backbone, the option and what was expected."""
        return ValueError(
            f"backbone {self.name!r} (plug-in {self.plugin!r}): option {key!r} = {value!r}; expected {expected}"
        )

    def _common_settings(self, options: Mapping[str, Any]) -> ExtractionSettings:
        seconds = options.get("seconds", DEFAULT_SECONDS)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float, np.number)) or not seconds > 0:
            raise self.option_error("seconds", seconds, "a positive number of seconds")
        seconds = float(seconds)
        if self.needs_audio and seconds < self.min_seconds:
            raise self.option_error(
                "seconds", seconds, f"at least {self.min_seconds:g} s, the shortest clip {self.plugin} can embed"
            )
        try:
            offset = parse_offset(options.get("offset"), key=f"backbone {self.name!r}: option 'offset'")
        except ValueError as error:
            raise ValueError(f"{error} (plug-in {self.plugin!r})") from None
        batch_size = self._check_positive_int("batch_size", options.get("batch_size", self.default_batch_size))
        workers = options.get("workers")
        if workers is not None and (not _is_int(workers) or workers < 0):
            raise self.option_error("workers", workers, "a non-negative integer")
        device = options.get("device", "auto")
        if device not in self.devices:
            raise self.option_error("device", device, f"one of {self.devices} (what {self.plugin} supports)")
        precision = options.get("precision", "auto")
        if precision != "auto" and precision not in self.precisions:
            raise self.option_error(
                "precision", precision, f"'auto' or one of {self.precisions} (what {self.plugin} supports)"
            )
        seed = options.get("seed")
        if seed is not None and (not _is_int(seed) or seed < 0):
            raise self.option_error("seed", seed, "a non-negative integer")
        return ExtractionSettings(seconds, offset, batch_size, workers, device, precision, seed)

    def _check_positive_int(self, key: str, value: Any) -> int:
        if not _is_int(value) or value < 1:
            raise self.option_error(key, value, "a positive integer")
        return int(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
