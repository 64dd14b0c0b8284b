"""Extraction throughput of the neural backbones: tracks/s and seconds of audio per second.

Two parts, both measured in this run:

CPU, tiny models. Every neural plug-in whose library is installed runs through
:func:`musicrec.extraction.extract` on 30-s MP3 clips (44.1 kHz, generated once
into benchmarks/out/extraction/ by bench_extraction.py's synthesiser), with a
tiny randomly initialised model of its real architecture (MERT: HubertModel;
Music2Vec: Data2VecAudioModel). Libraries that are not installed get a row
saying so. Per backbone the table gives the end-to-end rate and, to name the
bottleneck, the rates of its two stages measured apart: decoding+resampling
on one thread, and ``embed`` alone on decoded clips. The baseline row is the
MFCC plug-in through the same loop; ratio = rate / MFCC rate. (Tiny-model
rates describe the loop and the audio front end, not the real models.)

GPU, real sizes (only where torch sees CUDA). MERT-v1-330M-shaped (HubertModel
with MERT's 330M shape, random weights: an honest stand-in, see
musicrec/backbones/mert.py) and Music2Vec-v1 (Data2VecAudioModel, random
weights) embed 30-s clips at their native rates for each batch size and
precision (autocast); reported: tracks/s and audio s/s of ``embed`` (host
array in, pooled vectors out, i.e. including the host-device copies), peak
GPU memory (``torch.cuda.max_memory_allocated``), the ratio against fp32 at
batch 8, and how many decoding threads it takes to keep up, from the
one-thread decode rate. The bottleneck is decoding when that exceeds the
machine's cores, else the GPU. Finally the best setting runs end to end
through ``extract`` with one decoding thread per core.

    python benchmarks/bench_backbones.py            # 16 clips; GPU sweep if CUDA
    python benchmarks/bench_backbones.py --quick    # 4 clips; one GPU setting
    python benchmarks/bench_backbones.py --gpu-only # skip the CPU part
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from musicrec.backbones.wav2vec2_family import TINY_DATA2VEC_CONFIG, TINY_HUBERT_CONFIG

SECONDS = 30.0


# (backbone name, plug-in module:class, options for the CPU run, library it needs or None)
CPU_BACKBONES = [
    ("mfcc", "musicrec.backbones.mfcc:MfccBackbone", {}, None),
    ("mert", "musicrec.backbones.mert:MertBackbone", {"random_init": True, "model_config": TINY_HUBERT_CONFIG}, None),
    ("mert-windows", "musicrec.backbones.mert:MertBackbone",
     {"random_init": True, "model_config": TINY_HUBERT_CONFIG, "window_seconds": 5.0}, None),
    ("music2vec", "musicrec.backbones.music2vec:Music2VecBackbone", {"random_init": True, "model_config": TINY_DATA2VEC_CONFIG}, None),
    ("encodecmae", "musicrec.backbones.encodecmae:EncodecMaeBackbone", {"weights": "small"}, "encodecmae"),
    ("jukemir", "musicrec.backbones.jukemir:JukemirBackbone", {}, "jukemirlib"),
    ("musicfm", "musicrec.backbones.musicfm:MusicFmBackbone", {}, "musicfm"),
]

# Real-size architectures with random weights for the GPU part.
GPU_MODELS = [
    ("MERT-v1-330M shape", "musicrec.backbones.mert:MertBackbone", {"random_init": True}),
    ("Music2Vec-v1", "musicrec.backbones.music2vec:Music2VecBackbone", {"random_init": True}),
]


def plugin_class(path: str) -> Any:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def build(name: str, path: str, options: dict[str, Any]) -> tuple[Any, float]:
    """The backbone and its load time in seconds."""
    start = time.perf_counter()
    backbone = plugin_class(path)(name, {"seconds": SECONDS, "seed": 0, **options})
    return backbone, time.perf_counter() - start


def timed(run: Callable[[], Any], repeats: int = 2) -> float:
    """Wall seconds of the fastest of ``repeats`` calls of ``run()``: other jobs share the machine."""
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        walls.append(time.perf_counter() - start)
    return min(walls)


def decode_all(backbone: Any, paths: list[str]) -> list[np.ndarray]:
    from musicrec.audio import load_clip

    return [load_clip(path, backbone.sample_rate, SECONDS, backbone.min_seconds) for path in paths]


def embed_all(backbone: Any, clips: list[np.ndarray], batch_size: int) -> None:
    for start in range(0, len(clips), batch_size):
        batch = np.stack(clips[start : start + batch_size])
        backbone.embed(batch, np.arange(start, start + len(batch)))


def embed_and_wait(backbone: Any, clips: np.ndarray) -> None:
    """One ``embed`` call, waiting for the GPU to finish it."""
    import torch

    backbone.embed(clips, np.arange(len(clips)))
    torch.cuda.synchronize()


def cpu_part(n_clips: int, workers: int) -> None:
    from bench_extraction import clip_paths

    from musicrec.extraction import extract

    paths = clip_paths(n_clips)
    audio_seconds = n_clips * SECONDS
    print(
        f"CPU: {n_clips} clips of {SECONDS:g} s (MP3, 44.1 kHz), extract() with {workers} decoding thread(s); "
        "tiny random models"
    )
    header = (
        f"{'backbone':<13} {'model':<26} {'batch':>5} {'tracks/s':>9} {'audio s/s':>10} "
        f"{'decode s/s':>11} {'embed s/s':>10} {'bottleneck':>10} {'vs mfcc':>8}"
    )
    print(header)
    print("-" * len(header))
    baseline = None
    for name, path, options, library in CPU_BACKBONES:
        if library is not None and importlib.util.find_spec(library) is None:
            print(f"{name:<13} skipped: {library} is not installed (not on PyPI; see envs/{name}.yaml)")
            continue
        try:
            backbone, _ = build(name, path, {"device": "cpu", **options})
        except (RuntimeError, ValueError, ImportError, FileNotFoundError) as error:
            print(f"{name:<13} skipped: {error}")
            continue
        batch = backbone.settings.batch_size
        clips = decode_all(backbone, paths)
        embed_all(backbone, clips, batch)  # warm-up: kernels are set up per input shape on first use
        decode_wall = timed(partial(decode_all, backbone, paths))
        embed_wall = timed(partial(embed_all, backbone, clips, batch))
        total_wall = timed(partial(extract, backbone, paths, workers=workers, progress=False))
        rate = n_clips / total_wall
        baseline = rate if baseline is None else baseline
        if options.get("random_init"):
            model = f"{type(backbone.model).__name__}, tiny"
        else:
            model = str(backbone.describe()["weights"] or name)
        print(
            f"{name:<13} {model[:26]:<26} {batch:>5} {rate:>9.2f} {audio_seconds / total_wall:>10.0f} "
            f"{audio_seconds / decode_wall:>11.0f} {audio_seconds / embed_wall:>10.0f} "
            f"{'decode' if decode_wall > embed_wall else 'model':>10} {rate / baseline:>7.2f}x"
        )


def one_thread_decode_rate(sample_rate: int, n_clips: int) -> float | None:
    """Audio seconds decoded (MP3 -> mono float32 at ``sample_rate``) per second on one thread, if soundfile is here."""
    if importlib.util.find_spec("soundfile") is None or importlib.util.find_spec("soxr") is None:
        return None
    from bench_extraction import clip_paths

    from musicrec.audio import load_clip

    paths = clip_paths(n_clips)
    wall = timed(lambda: [load_clip(path, sample_rate, SECONDS) for path in paths])
    return n_clips * SECONDS / wall


def gpu_part(quick: bool, n_clips: int) -> None:
    import torch

    from musicrec.backbones.torch_common import precision_name

    cores = os.cpu_count() or 1
    batch_sizes = [8] if quick else [4, 8, 16, 32]
    precisions = ["bf16"] if quick else ["fp32", "fp16", "bf16"]
    repeats = 2 if quick else 3
    print()
    print(
        f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}, {cores} CPU cores; "
        f"{SECONDS:g}-s clips, random weights, embed() only"
    )
    header = (
        f"{'model':<19} {'params':>7} {'batch':>5} {'prec':>5} {'tracks/s':>9} {'audio s/s':>10} "
        f"{'peak GiB':>9} {'vs fp32 b8':>10} {'threads to feed':>15} {'bottleneck':>11}"
    )
    best: dict[str, tuple[float, int, str]] = {}
    for label, path, options in GPU_MODELS:
        backbone, load_wall = build(label, path, {"device": "cuda", **options})
        decode_rate = one_thread_decode_rate(backbone.sample_rate, 4 if quick else 8)
        n_params = sum(parameter.numel() for parameter in backbone.model.parameters())
        print(f"{label}: built in {load_wall:.1f} s; one-thread decode rate "
              + (f"{decode_rate:.0f} audio s/s" if decode_rate else "not measured (soundfile/soxr missing)"))
        print(header)
        print("-" * len(header))
        del backbone
        rows = []
        for precision in (["fp32"] if "fp32" not in precisions else []) + precisions:
            backbone, _ = build(label, path, {"device": "cuda", "precision": precision, **options})
            for batch_size in ([8] if 8 not in batch_sizes else []) + batch_sizes:
                shape = (batch_size, int(SECONDS * backbone.sample_rate))
                clip = np.random.default_rng(0).uniform(-0.5, 0.5, shape).astype(np.float32)
                torch.cuda.empty_cache()
                try:
                    backbone.embed(clip, np.arange(batch_size))  # warm-up: kernels, allocator
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                    wall = timed(partial(embed_and_wait, backbone, clip), repeats)
                except torch.cuda.OutOfMemoryError:
                    rows.append((batch_size, precision, None, None))
                    continue
                peak = torch.cuda.max_memory_allocated() / 2**30
                rows.append((batch_size, precision_name(backbone.autocast_dtype), batch_size / wall, peak))
            del backbone
            torch.cuda.empty_cache()
        reference = next((rate for batch_size, precision, rate, _ in rows if (batch_size, precision) == (8, "fp32")), None)
        for batch_size, precision, rate, peak in rows:
            if rate is None:
                print(f"{label:<19} {'':>7} {batch_size:>5} {precision:>5} out of GPU memory")
                continue
            audio_rate = rate * SECONDS
            threads = audio_rate / decode_rate if decode_rate else float("nan")
            bottleneck = "decoding" if decode_rate and threads > cores else "GPU"
            ratio = rate / reference if reference else float("nan")
            print(
                f"{label:<19} {n_params / 1e6:>6.0f}M {batch_size:>5} {precision:>5} {rate:>9.2f} {audio_rate:>10.0f} "
                f"{peak:>9.2f} {ratio:>9.2f}x {threads:>15.1f} {bottleneck:>11}"
            )
            if precision in precisions and batch_size in batch_sizes and rate > best.get(label, (0.0, 0, ""))[0]:
                best[label] = (rate, batch_size, precision)
        print()
    if importlib.util.find_spec("soundfile") is None or importlib.util.find_spec("soxr") is None:
        print("end-to-end run skipped: soundfile/soxr are not installed here")
        return
    from bench_extraction import clip_paths

    from musicrec.extraction import extract

    paths = clip_paths(n_clips)
    print(f"End to end on the GPU: extract() over {n_clips} MP3 clips with {cores} decoding threads, best setting per model")
    for label, path, options in GPU_MODELS:
        if label not in best:
            continue
        embed_rate, batch_size, precision = best[label]
        backbone, _ = build(label, path, {"device": "cuda", "precision": precision, "batch_size": batch_size, **options})
        extract(backbone, paths[:batch_size], workers=cores, progress=False)  # warm-up
        wall = timed(partial(extract, backbone, paths, workers=cores, progress=False))
        share = n_clips / wall / embed_rate
        # Below ~90 % of the model-only rate the GPU waits for the host (decoding, batching, copies).
        verdict = "GPU-bound" if share >= 0.9 else "host-bound: the GPU waits for decoding and batching"
        print(
            f"{label:<19} batch {batch_size:>3} {precision}: {n_clips / wall:.2f} tracks/s, "
            f"{n_clips * SECONDS / wall:.0f} audio s/s = {share:.0%} of embed() alone; {verdict}"
        )
        del backbone
        torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 clips, one GPU setting")
    parser.add_argument("--clips", type=int, help="number of 30-s clips (default 16, --quick 4)")
    parser.add_argument("--workers", type=int, default=2, help="decoding threads in the CPU part")
    parser.add_argument("--gpu-only", action="store_true", help="skip the CPU part")
    args = parser.parse_args()
    n_clips = args.clips or (4 if args.quick else 16)
    os.environ.setdefault("USE_TF", "0")
    if not args.gpu_only:
        cpu_part(n_clips, args.workers)
    import torch

    if torch.cuda.is_available():
        gpu_part(args.quick, max(n_clips, 64 if not args.quick else 16))
    else:
        print("\nGPU part skipped: torch sees no CUDA device")


if __name__ == "__main__":
    main()
