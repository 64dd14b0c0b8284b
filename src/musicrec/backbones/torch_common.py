"""What every PyTorch plug-in decides the same way: device, precision, inference.

:class:`TorchBackbone` resolves the common config keys ``device`` and
``precision`` once, so MERT, Music2Vec, EnCodec-MAE, JukeMIR and MusicFM behave
alike:

* ``device: auto`` is CUDA when torch sees a GPU, else the CPU; asking for
  ``cuda`` on a machine without one is an error rather than a silent CPU run.
* Mixed precision is autocast: weights stay fp32, matrix products run in the
  lower precision, while norms, softmax and our pooled means stay fp32, which
  keeps the feature encoders' group norms and the time means accurate.
  ``precision: auto`` is bf16 on GPUs that support it (Ampere and later), fp16
  on older GPUs and fp32 on the CPU. fp16 on the CPU is refused (CPU autocast
  covers bf16 only).

torch is imported lazily so that importing this module, and the pure
functions of the plug-ins built on it, costs nothing where torch is absent.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from musicrec.backbones.base import Backbone


def import_torch() -> Any:
    """Import torch, saying which env file provides it when it is missing."""
    try:
        import torch
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("this backbone needs PyTorch; create its conda env from envs/<backbone>.yaml") from error
    return torch


def import_transformers() -> Any:
    """Import transformers without letting it import TensorFlow too.

    transformers imports TensorFlow whenever it is installed (it is, for the
    musicnn plug-in), which costs seconds and GBs for nothing here. ``USE_TF``
    is only set when the caller has not set it.
    """
    os.environ.setdefault("USE_TF", "0")
    try:
        import transformers
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("this backbone needs transformers 4.x; see its envs/<backbone>.yaml") from error
    return transformers


def resolve_device(setting: str) -> Any:
    """``torch.device`` for the config value ``device``: ``"auto"``, ``"cpu"`` or ``"cuda"``."""
    torch = import_torch()
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: 'cuda' was requested but torch sees no CUDA GPU on this machine")
    if setting not in ("cpu", "cuda"):
        raise ValueError(f"device: expected 'auto', 'cpu' or 'cuda', got {setting!r}")
    return torch.device(setting)


def resolve_precision(setting: str, device: Any, gpu_default: str | None = None) -> Any:
    """The autocast dtype for config value ``precision`` on ``device`` (``torch.float32``: no autocast).

    ``auto`` is fp32 on the CPU and, on a GPU, ``gpu_default`` when given, else
    bf16 where the GPU supports it and fp16 elsewhere.
    """
    torch = import_torch()
    on_gpu = device.type == "cuda"
    if setting == "auto":
        if not on_gpu:
            return torch.float32
        if gpu_default is not None:
            return resolve_precision(gpu_default, device)
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if setting == "fp16" and not on_gpu:
        raise ValueError("precision: 'fp16' needs a CUDA device; use 'fp32' or 'bf16' on the CPU")
    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if setting not in dtypes:
        raise ValueError(f"precision: expected 'auto', 'fp32', 'fp16' or 'bf16', got {setting!r}")
    return dtypes[setting]


def precision_name(dtype: Any) -> str:
    """``"fp32" | "fp16" | "bf16"`` for a torch dtype, for sidecars and benchmark tables."""
    torch = import_torch()
    return {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]


@contextlib.contextmanager
def inference(device: Any, dtype: Any) -> Iterator[None]:
    """No autograd, and autocast to ``dtype`` unless it is fp32."""
    torch = import_torch()
    with torch.inference_mode():
        if dtype == torch.float32:
            yield
        else:
            with torch.autocast(device_type=device.type, dtype=dtype):
                yield


def to_device(array: np.ndarray, device: Any) -> Any:
    """A float32 NumPy array as a tensor on ``device`` (through pinned memory on CUDA)."""
    torch = import_torch()
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor


def to_numpy(tensor: Any) -> np.ndarray:
    """A tensor as a float32 NumPy array on the host."""
    return tensor.detach().float().cpu().numpy()


class TorchBackbone(Backbone):
    """A :class:`Backbone` running a PyTorch model: resolves ``device`` and ``precision``.

    Subclasses call ``super().__init__(name, options)``, then build their model
    and move it to ``self.device``; ``embed`` runs the model inside
    ``inference(self.device, self.autocast_dtype)``.

    Attributes:
        device: the resolved ``torch.device``.
        autocast_dtype: ``torch.float32`` (no autocast), ``torch.bfloat16`` or ``torch.float16``.
    """

    devices = ("auto", "cpu", "cuda")
    # 'auto' is resolved by resolve_precision (bf16 or fp16 on a GPU, fp32 on the CPU).
    precisions = ("fp32", "bf16", "fp16")
    # Below a second there is no music to describe; every model here also needs
    # a few frames of input before its convolutions produce any output.
    min_seconds = 1.0
    # What precision 'auto' means on a GPU; None: bf16 where supported, else fp16.
    gpu_auto_precision: str | None = None

    def __init__(self, name: str, options: Mapping[str, Any] | None = None):
        super().__init__(name, options)
        self.device = resolve_device(self.settings.device)
        try:
            self.autocast_dtype = resolve_precision(self.settings.precision, self.device, self.gpu_auto_precision)
        except ValueError as error:
            raise self.option_error("precision", self.settings.precision, str(error)) from error
        # Random-weight models (tests, benchmarks) and any stochastic layer must
        # not change between runs; the workflow passes the global seed.
        import_torch().manual_seed(0 if self.settings.seed is None else self.settings.seed)

    @property
    def precision(self) -> str:
        """The precision actually used (``auto`` resolved for this device)."""
        return precision_name(self.autocast_dtype)

    def run_inference(self) -> contextlib.AbstractContextManager[None]:
        """Context for the forward pass: no autograd, autocast to the resolved precision."""
        return inference(self.device, self.autocast_dtype)
