"""The one training loop of the trained recommenders, resumable after any interruption.

A model plugs in through a :class:`TrainingTask` (its batches, its loss, its validation
loss); the loop owns everything else: the device (CUDA when present, with mixed
precision), seeding, Adam, ReduceLROnPlateau, early stopping on the validation loss, the
best weights, a checkpoint after every epoch, TensorBoard scalars and a progress bar.

Resuming. With a ``state_dir`` the loop writes ``last.pt`` (everything needed to continue:
weights, optimiser, scheduler, early-stopping counters, curves) after every epoch and
``best.pt`` (the best weights) whenever the validation loss improves, each atomically
(written aside, then renamed), so a job killed at any instant (SLURM time limit,
preemption, SIGTERM, SIGKILL) leaves the last complete epoch on disk. A rerun with the same
``fingerprint`` continues from there and repeats the interrupted epoch. Every random draw
of epoch ``e`` comes from generators seeded by ``(seed, e)`` alone, so on the CPU an
interrupted-and-resumed run computes exactly what an uninterrupted one does. A state whose
fingerprint differs (other options, data or seed) is ignored and training starts afresh.
After the last epoch ``last.pt`` is marked finished: a rerun loads the best weights
without training again.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import math
import os
import signal
import sys
import threading
import time
import types
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from musicrec.io import write_atomic
from musicrec.recommenders.inputs import InputError

log = logging.getLogger(__name__)

LAST_STATE = "last.pt"
BEST_STATE = "best.pt"
CURVE_COLUMNS = ["epoch", "train_loss", "val_loss", "lr", "seconds"]
STATE_FORMAT = 1


class TrainingInterrupted(RuntimeError):
    """The job was asked to stop (SIGTERM); the last finished epoch is on disk."""


def choose_device(preference: str | None = None) -> torch.device:
    """``cuda`` when available (or asked for), else ``cpu``. preference: None/"auto", "cpu", "cuda"."""
    if preference in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(preference)


def effective_freeze(freeze: bool, paper_compat: bool) -> bool:
    """Whether a table is really frozen.

    The published code passes its ``item_freeze``/``user_freeze`` flags straight to
    ``requires_grad``, so "freeze" made a table *trainable*; ``paper_compat`` reproduces that.
    """
    return (not freeze) if paper_compat else freeze


def fingerprint(*parts: Any) -> str:
    """A short hash of options (JSON-able values) and arrays, to recognise a resumable state."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(str((part.dtype.str, part.shape)).encode())
            digest.update(np.ascontiguousarray(part).view(np.uint8).reshape(-1).data)
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class LoopSettings:
    """What the loop needs to know; defaults are the paper's."""

    lr: float = 1e-3
    max_epochs: int = 100
    patience: int = 16  # epochs without a better validation loss before stopping
    lr_patience: int = 5  # ReduceLROnPlateau's patience
    seed: int = 0
    mixed_precision: bool = True  # only takes effect on CUDA

    @classmethod
    def from_options(cls, options: Any, seed: int) -> "LoopSettings":
        """The loop's settings from a model's options dataclass (lr, max_epochs, patience, lr_patience)."""
        return cls(
            lr=options.lr,
            max_epochs=options.max_epochs,
            patience=options.patience,
            lr_patience=options.lr_patience,
            seed=int(seed),
        )


class TrainingTask(Protocol):
    """The model-specific pieces the loop drives."""

    model: torch.nn.Module
    device: torch.device

    def n_train_batches(self) -> int: ...

    def train_batches(self, generator: torch.Generator) -> Iterable[Any]:
        """One epoch of batches; all randomness from ``generator``."""
        ...

    def train_loss(self, batch: Any) -> torch.Tensor: ...

    def validation_loss(self) -> float:
        """Deterministic loss on the validation split (called under no_grad, eval mode)."""
        ...


@dataclass
class TrainingOutcome:
    """What a training run produced; the model holds the best weights."""

    history: pd.DataFrame  # CURVE_COLUMNS; epoch 0 = the untrained model (train_loss NaN), then one row per epoch
    best_epoch: int  # epoch of the best validation loss (0: no epoch beat the initial weights)
    best_val_loss: float
    best_state: dict[str, torch.Tensor]  # the best weights (CPU tensors)
    stopped_early: bool
    resumed_from_epoch: int  # last finished epoch found on disk (0: fresh start)
    device: str
    trained_epochs: int = 0  # epochs run by this call


def _epoch_seed(seed: int, epoch: int) -> int:
    return (int(seed) * 1_000_003 + int(epoch)) % (2**63 - 1)


def _save_atomic(payload: Any, path: Path) -> None:
    write_atomic(path, lambda temporary: torch.save(payload, temporary))


def _cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in model.state_dict().items()}


@contextmanager
def _sigterm_raises():
    """Turn SIGTERM into :class:`TrainingInterrupted` so the job exits cleanly and promptly."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise TrainingInterrupted("received SIGTERM; rerun to resume from the last finished epoch")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def deterministic_cpu(device: torch.device):
    """On the CPU, run the enclosed code with torch's deterministic algorithms; restore after.

    Why: the gradient of an indexing gather with repeated indices (``rows[inverse]`` in
    Shallow Net, the [MASK]/padding rows in BERT4Rec) is ``index_put_(accumulate=True)``,
    whose multi-threaded CPU kernel adds floats with atomics in whichever order the
    threads get there, so two runs with the same seed differ in the last bits from the
    first step on, and Adam amplifies that into different models. In deterministic mode
    torch accumulates serially instead (an op without a deterministic kernel raises rather
    than silently differing). Results then depend only on the inputs and on the intra-op
    thread count, fixed on a machine unless OMP_NUM_THREADS (or the scheduler setting it)
    changes. Other devices are left as they are.
    """
    if device.type != "cpu":
        yield
        return
    previous = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])


def _summary_writer(log_dir: str | Path, purge_step: int):
    # TensorBoard imports TensorFlow when it is installed (seconds and GBs) just to write
    # scalars; its own "no TensorFlow" switch (the module tensorboard.compat.notf) makes it
    # use its built-in writer. Only done when TensorFlow is not already loaded.
    if "tensorflow" not in sys.modules:
        sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)


def _progress(total: int, description: str, enabled: bool):
    from tqdm.auto import tqdm

    # In a job log (not a terminal) redraws are appended, so redraw rarely.
    interactive = sys.stderr.isatty()
    return tqdm(
        total=total,
        desc=description,
        file=sys.stderr,
        disable=not enabled,
        leave=False,
        mininterval=0.5 if interactive else 30.0,
        dynamic_ncols=interactive,
    )


@dataclass
class _Progress:
    """Where training stands; saved after every epoch so a rerun continues from it."""

    history: list[dict] = field(default_factory=list)
    best_val_loss: float = math.inf
    best_epoch: int = 0
    stale_epochs: int = 0
    finished: bool = False

    @property
    def last_epoch(self) -> int:
        return self.history[-1]["epoch"] if self.history else 0


class _Checkpoints:
    """``last.pt`` (everything to continue) and ``best.pt`` (the best weights) in the state folder.

    Without a folder nothing is written and nothing is resumed. A state whose fingerprint
    differs (other options, data or seed) is ignored.
    """

    def __init__(self, state_dir: str | Path | None, fingerprint_: str) -> None:
        self.fingerprint = fingerprint_
        self.last = self.best = None
        if state_dir is not None:
            Path(state_dir).mkdir(parents=True, exist_ok=True)
            self.last, self.best = Path(state_dir) / LAST_STATE, Path(state_dir) / BEST_STATE

    def load_last(self, device: torch.device) -> dict | None:
        if self.last is None or not self.last.exists():
            return None
        state = torch.load(self.last, map_location=device, weights_only=False)
        if state.get("format") != STATE_FORMAT or state.get("fingerprint") != self.fingerprint:
            log.warning("ignoring %s: it belongs to other options, data or seed; training from scratch", self.last)
            return None
        return state

    def load_best(self) -> dict[str, torch.Tensor] | None:
        if self.best is None or not self.best.exists():
            return None
        best = torch.load(self.best, map_location="cpu", weights_only=False)
        return best["model"] if best.get("fingerprint") == self.fingerprint else None

    def save_best(self, weights: dict[str, torch.Tensor], epoch: int, val_loss: float) -> None:
        if self.best is not None:
            payload = {"fingerprint": self.fingerprint, "epoch": epoch, "val_loss": val_loss, "model": weights}
            _save_atomic(payload, self.best)

    def save_last(self, progress: _Progress, model, optimizer, scheduler, scaler) -> None:
        if self.last is not None:
            _save_atomic(
                {
                    "format": STATE_FORMAT,
                    "fingerprint": self.fingerprint,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict() if scaler is not None else None,
                    **dataclasses.asdict(progress),
                },
                self.last,
            )


def _mixed_precision(device: torch.device, enabled: bool):
    """(autocast context factory, GradScaler or None): bf16 where supported, fp16 + scaler else; CUDA only."""
    amp_dtype = None
    if device.type == "cuda" and enabled:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None

    def autocast():
        return torch.autocast("cuda", dtype=amp_dtype) if amp_dtype is not None else nullcontext()

    return autocast, scaler


def _train_epoch(task, optimizer, scaler, autocast, generator, epoch, settings, on_step, progress) -> float:
    """One pass over the task's batches; the mean training loss. Raises on a non-finite loss."""
    task.model.train()
    loss_sum = torch.zeros((), device=task.device)
    steps = 0
    with _progress(task.n_train_batches(), f"epoch {epoch}/{settings.max_epochs}", progress) as bar:
        for step, batch in enumerate(task.train_batches(generator)):
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                loss = task.train_loss(batch)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            loss_sum += loss.detach().float()
            steps += 1
            bar.update(1)
            if progress and step % 20 == 0:
                bar.set_postfix(loss=f"{loss.item():.4f}")
            if on_step is not None:
                on_step(epoch, step)
    train_loss = float(loss_sum) / max(steps, 1)
    if not math.isfinite(train_loss):
        raise FloatingPointError(
            f"training diverged in epoch {epoch} (train loss {train_loss}); lower the lr option "
            f"(now {settings.lr}) or check the embeddings' scale"
        )
    return train_loss


def _validation_loss(task, autocast, epoch: int, lr: float) -> float:
    task.model.eval()
    with torch.no_grad(), autocast():
        value = float(task.validation_loss())
    if not math.isfinite(value):
        raise FloatingPointError(
            f"validation loss is {value} after epoch {epoch}; lower the lr option (now {lr}) or check "
            "the embeddings' scale"
        )
    return value


def _log_scalars(writer, epoch: int, row: dict) -> None:
    if writer is None:
        return
    writer.add_scalar("loss/train", row["train_loss"], epoch)
    writer.add_scalar("loss/val", row["val_loss"], epoch)
    writer.add_scalar("lr", row["lr"], epoch)
    writer.add_scalar("seconds_per_epoch", row["seconds"], epoch)
    writer.flush()


def train(
    task: TrainingTask,
    settings: LoopSettings,
    state_dir: str | Path | None = None,
    tensorboard_dir: str | Path | None = None,
    run_fingerprint: str = "",
    on_step: Callable[[int, int], None] | None = None,
    progress: bool = True,
) -> TrainingOutcome:
    """Train ``task.model`` until early stopping or ``settings.max_epochs``; resume if possible.

    In: the task, the loop settings, an optional state folder for resuming (must outlive
    the job's outputs), an optional TensorBoard folder, the fingerprint identifying this
    run's options and data, and ``on_step(epoch, step)`` called after every optimiser step
    (1-based epoch, 0-based step). Out: :class:`TrainingOutcome`; the model is left holding
    the best weights. Raises :class:`TrainingInterrupted` on SIGTERM and FloatingPointError
    when the training loss becomes NaN/inf.
    """
    model, device = task.model, task.device
    model.to(device)
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    if not trainable:
        raise InputError("nothing to train: every parameter is frozen (check freeze_items / freeze_users)")
    optimizer = torch.optim.Adam(trainable, lr=settings.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", patience=settings.lr_patience)
    autocast, scaler = _mixed_precision(device, settings.mixed_precision)
    checkpoints = _Checkpoints(state_dir, run_fingerprint)

    done = _Progress()
    best_state = _cpu_state(model)
    state = checkpoints.load_last(device)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        done = _Progress(**{key: state[key] for key in ("history", "best_val_loss", "best_epoch", "stale_epochs", "finished")})
        done.history = list(done.history)
        best_state = checkpoints.load_best() or best_state
        log.info(
            "resuming from %s: %d epoch(s) done%s",
            checkpoints.last,
            done.last_epoch,
            ", training had finished" if done.finished else "",
        )
    resumed_from = done.last_epoch

    def keep_best(epoch: int, val_loss: float) -> None:
        nonlocal best_state
        best_state = _cpu_state(model)
        checkpoints.save_best(best_state, epoch, val_loss)

    writer = None
    if tensorboard_dir is not None and not done.finished:
        writer = _summary_writer(tensorboard_dir, purge_step=resumed_from + 1 if done.history else 0)
    if not done.history:
        # Epoch 0 is the untrained model: the curves start where training starts, and a run
        # in which no epoch beats the initial weights keeps the initial weights.
        done.best_val_loss = _validation_loss(task, autocast, 0, settings.lr)
        done.history.append(
            {"epoch": 0, "train_loss": math.nan, "val_loss": done.best_val_loss, "lr": settings.lr, "seconds": 0.0}
        )
        keep_best(0, done.best_val_loss)
        if writer is not None:
            writer.add_scalar("loss/val", done.best_val_loss, 0)
        log.info("epoch 0 (untrained): val %.5f", done.best_val_loss)

    trained = 0
    try:
        with _sigterm_raises(), deterministic_cpu(device):
            for epoch in range(resumed_from + 1, settings.max_epochs + 1):
                if done.finished:
                    break
                began = time.perf_counter()
                torch.manual_seed(_epoch_seed(settings.seed, epoch))  # dropout
                generator = torch.Generator(device=device)
                generator.manual_seed(_epoch_seed(settings.seed, epoch))
                lr = optimizer.param_groups[0]["lr"]
                train_loss = _train_epoch(
                    task, optimizer, scaler, autocast, generator, epoch, settings, on_step, progress
                )
                val_loss = _validation_loss(task, autocast, epoch, settings.lr)
                scheduler.step(val_loss)
                row = {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "val_loss": val_loss,
                    "lr": lr,
                    "seconds": time.perf_counter() - began,
                }
                done.history.append(row)
                improved = val_loss < done.best_val_loss
                if improved:
                    done.best_val_loss, done.best_epoch, done.stale_epochs = val_loss, epoch, 0
                    keep_best(epoch, val_loss)
                else:
                    done.stale_epochs += 1
                done.finished = done.stale_epochs >= settings.patience or epoch == settings.max_epochs
                trained += 1
                checkpoints.save_last(done, model, optimizer, scheduler, scaler)
                _log_scalars(writer, epoch, row)
                log.info(
                    "epoch %d: train %.5f, val %.5f%s, lr %.2g, %.1f s",
                    epoch,
                    train_loss,
                    val_loss,
                    " (best)" if improved else f" ({done.stale_epochs} without improvement)",
                    lr,
                    row["seconds"],
                )
    finally:
        if writer is not None:
            writer.close()

    stopped_early = done.stale_epochs >= settings.patience
    if trained and stopped_early:
        log.info(
            "early stop after epoch %d: best val loss %.5f at epoch %d",
            done.last_epoch,
            done.best_val_loss,
            done.best_epoch,
        )
    elif trained and done.last_epoch == settings.max_epochs:
        log.info(
            "stopped at max_epochs (%d) while still improving within patience: best val loss %.5f at epoch %d; "
            "more epochs may help",
            settings.max_epochs,
            done.best_val_loss,
            done.best_epoch,
        )
    if done.best_epoch == 0:
        log.warning("no epoch improved on the untrained model's validation loss; keeping the initial weights")
    model.load_state_dict(best_state)
    return TrainingOutcome(
        history=pd.DataFrame(done.history, columns=CURVE_COLUMNS),
        best_epoch=done.best_epoch,
        best_val_loss=done.best_val_loss,
        best_state=copy.copy(best_state),
        stopped_early=stopped_early,
        resumed_from_epoch=resumed_from,
        device=str(device),
        trained_epochs=trained,
    )
