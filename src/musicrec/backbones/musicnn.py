"""MusicNN (Pons & Serra, 2019) with the MSD_musicnn weights that ship in the musicnn wheel.

The embedding of a clip is the mean over its non-overlapping 3-s patches of
one layer of the network (by default ``penultimate``, the 200-unit dense layer
before the 50 tag outputs); ``layer: all`` (or a list) stacks every layer of
:data:`LAYERS`, from the front end's ``timbral`` maps to the ``taggram``, zero-padded
to the widest (753) for the layers artefact. The weights are musicnn's bundled checkpoint,
restored into musicnn's own graph (:func:`musicnn.models.define_model`) and
verified; embeddings are computed by :func:`inference_graph`, the same forward
pass rearranged to cost a third less CPU (see there). This module replaces the
driver, ``musicnn.extractor.extractor``, which has four defects we must not
inherit:

1. **float16 log-mel.** musicnn rounds the mel spectrogram to float16 and then
   computes ``log10(10000 * mel + 1)``. Under NumPy 1, value-based casting made
   that product float32; under NumPy 2 (NEP 50) it stays float16 and overflows
   to inf for any mel value above 6.55, silently corrupting the features. We
   compute it the NumPy-1 way, explicitly: mel rounded to float16 (as musicnn's
   training spectrograms were stored), then the log compression in float32.
2. **Swallowed restore errors.** A failed ``saver.restore`` is caught by a bare
   ``except`` and the model runs on random weights. We let restore errors
   propagate and then verify every variable against the checkpoint file.
3. **Clips under 3 s** crash it; ``min_seconds = 3`` makes the extraction loop
   report them as bad audio instead.
4. **One graph and session per call**, one patch per ``session.run``. We build
   the graph and restore the weights once per job and run the patches of many
   clips together, ``patch_batch`` at a time. (Its feature loop also stores the *first* patch's
   ``penultimate``/``mean_pool``/``max_pool`` for every patch after the first,
   so its pooled features are really the first 3 s only.)

TensorFlow: musicnn is written against ``tf.compat.v1.layers``, which in TF
2.16+ exists only with legacy Keras (tf-keras). TF reads the switch
``TF_USE_LEGACY_KERAS=1`` when Keras is first touched, so this module sets it
before importing TensorFlow; all TF1 graph details stay in this module, in a
private ``tf.Graph`` (eager execution is never disabled process-wide).
"""

from __future__ import annotations

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # before TensorFlow loads Keras; see the module docstring
# TensorFlow's C++ INFO and WARNING lines flood job logs; errors stay. The lines TF prints
# before its logging starts ignore this level: native_output_to_log() sends them to the log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import hashlib  # noqa: E402
import importlib.metadata  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import librosa  # noqa: E402
import numpy as np  # noqa: E402

from musicrec.backbones.base import Backbone  # noqa: E402
from musicrec.console import native_output_to_log  # noqa: E402

with native_output_to_log():  # TF's start-up lines go to the job log, not the console
    import musicnn  # noqa: E402
    import tensorflow as tf  # noqa: E402
    from musicnn import configuration as musicnn_config  # noqa: E402
    from musicnn import models as musicnn_models  # noqa: E402

# The bundled checkpoints with musicnn's architecture, and their number of tags.
WEIGHTS = {"MSD_musicnn": len(musicnn_config.MSD_LABELS), "MTT_musicnn": len(musicnn_config.MTT_LABELS)}

PATCH_SECONDS = 3.0  # the models were trained on 3-s inputs (musicnn's input_length)
# musicnn's own seconds -> frames conversion: 187 frames at 16 kHz, hop 256
PATCH_FRAMES = 1 + int(
    librosa.time_to_frames(
        PATCH_SECONDS, sr=musicnn_config.SR, n_fft=musicnn_config.FFT_SIZE, hop_length=musicnn_config.FFT_HOP
    )
)

# musicnn's layers (the feature names of build_musicnn / musicnn.extractor), shallow to deep.
# Frame layers give a vector per spectrogram frame of a patch: the front end's timbral
# (7x38 and 7x67 filters, 2 x 204) and temporal (128/64/32-frame filters, 3 x 51) maps, and
# the mid-end's three 64-filter convolutions (cnn2 and cnn3 with their residuals). Each is
# averaged over the patch's frames, which is exactly its slice of mean_pool, the time mean of
# the mid-end's output [timbral | temporal | cnn1 | cnn2 | cnn3] (753 = 408 + 153 + 3 x 64).
FRAME_LAYERS = ("timbral", "temporal", "cnn1", "cnn2", "cnn3")
# Patch layers give a vector per patch (taggram = sigmoid of the tag logits).
PATCH_LAYERS = ("mean_pool", "max_pool", "penultimate", "taggram")
LAYERS = FRAME_LAYERS + PATCH_LAYERS
ALL_LAYERS = "all"
POOLINGS = ("mean", "max")

_FLOAT16_MAX = float(np.finfo(np.float16).max)


def log_mel_spectrogram(audio: np.ndarray) -> np.ndarray:
    """musicnn's input representation, with NumPy 1 semantics.

    Args:
        audio: ``(B, n_samples)`` float32 mono at 16 kHz.

    Returns:
        ``(B, n_frames, 96)`` float32, ``n_frames = 1 + n_samples // 256``:
        ``log10(10000 * float16(mel) + 1)`` computed in float32. Mel power
        above float16's maximum (65504, far beyond what audio in [-1, 1]
        produces) is clipped there instead of becoming inf.
    """
    mel = librosa.feature.melspectrogram(
        y=np.asarray(audio, dtype=np.float32),
        sr=musicnn_config.SR,
        hop_length=musicnn_config.FFT_HOP,
        n_fft=musicnn_config.FFT_SIZE,
        n_mels=musicnn_config.N_MELS,
    )
    rounded = np.minimum(mel, _FLOAT16_MAX).astype(np.float16).astype(np.float32)
    return np.log10(np.float32(10000) * rounded + np.float32(1)).swapaxes(-1, -2)


def patch_count(n_samples: int) -> int:
    """Non-overlapping 3-s patches in a 16-kHz clip of ``n_samples``; the remainder is dropped, as musicnn does."""
    n_frames = 1 + n_samples // musicnn_config.FFT_HOP
    return max(0, (n_frames - PATCH_FRAMES) // PATCH_FRAMES + 1)


class MusicnnBackbone(Backbone):
    """MusicNN features of 16-kHz clips pooled over 3-s patches; options weights, layer, pooling, patch_batch.

    ``layer`` is one of :data:`LAYERS` (output ``(d,)``), a list of them or
    ``"all"`` (output ``(n_layers, d_max)``: every layer in the order asked,
    narrower layers zero-padded on the right; ``describe()`` lists their
    ``layer_names`` and ``layer_dims``). Each layer is computed exactly as its
    single-layer extraction: one forward pass serves them all.
    """

    plugin = "musicnn"
    default_sample_rate = musicnn_config.SR
    min_seconds = PATCH_SECONDS
    default_batch_size = 8
    devices = ("auto", "cpu", "cuda")
    # patch_batch: patches per session.run. On CPU the cost per patch is flat from 2 patches up
    # while larger runs fall out of cache; raise it on a GPU.
    plugin_options = {"weights": "MSD_musicnn", "layer": "penultimate", "pooling": "mean", "patch_batch": 8}

    def __init__(self, name: str, options: dict[str, Any] | None = None):
        super().__init__(name, options)
        params = self.params
        if params["weights"] not in WEIGHTS:
            raise self.option_error(
                "weights", params["weights"], f"one of {sorted(WEIGHTS)} (the checkpoints in the musicnn wheel)"
            )
        self._layer_names = _resolve_layers(params["layer"])
        if self._layer_names is None:
            raise self.option_error(
                "layer", params["layer"], f"one of {LAYERS}, a list of distinct ones, or {ALL_LAYERS!r}"
            )
        self._multi_layer = not isinstance(params["layer"], str) or params["layer"] == ALL_LAYERS
        if params["pooling"] not in POOLINGS:
            raise self.option_error("pooling", params["pooling"], f"one of {POOLINGS}")
        params["patch_batch"] = self._check_positive_int("patch_batch", params["patch_batch"])
        if self.sample_rate != musicnn_config.SR:
            raise self.option_error(
                "sample_rate",
                self.sample_rate,
                f"{musicnn_config.SR}: the weights were trained on 16-kHz mel spectrograms",
            )
        if self.settings.device == "cuda" and not tf.config.list_physical_devices("GPU"):
            raise RuntimeError(f"backbone {self.name!r}: device 'cuda' requested but TensorFlow sees no GPU")
        self.checkpoint = str(Path(musicnn.__file__).parent / params["weights"]) + os.sep
        with native_output_to_log():  # the first session prints TF's device probing (cuInit, ...) to fd 2
            weights = restore_weights(params["weights"], self.checkpoint)
            self._session, self._patches, self._features = self._inference_session(weights)
        self._dims = [int(feature.shape[-1]) for feature in self._features]
        self._weights_sha256 = _sha256(self.checkpoint + ".data-00000-of-00001")
        from musicrec.jit_warmup import warm_librosa

        warm_librosa()  # the mel front end's librosa kernels, compiled once, not beside another job's

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (len(self._dims), max(self._dims)) if self._multi_layer else (self._dims[0],)

    def embed(self, audio: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
        """``(B, n_samples)`` float32 at 16 kHz (at least 3 s) -> ``(B, *output_shape)`` float32, patch-pooled."""
        audio = np.asarray(audio, dtype=np.float32)
        n_clips, n_samples = audio.shape
        n_patches = patch_count(n_samples)
        if n_patches == 0:
            raise ValueError(
                f"backbone {self.name!r}: clips of {n_samples / musicnn_config.SR:.2f} s "
                f"are shorter than one {PATCH_SECONDS:g}-s patch"
            )
        log_mel = log_mel_spectrogram(audio)[:, : n_patches * PATCH_FRAMES]
        patches = log_mel.reshape(n_clips * n_patches, PATCH_FRAMES, musicnn_config.N_MELS)
        step = self.params["patch_batch"]
        runs = [
            self._session.run(self._features, {self._patches: patches[start : start + step]})
            for start in range(0, len(patches), step)
        ]
        pooled = []
        for index, dim in enumerate(self._dims):
            features = np.concatenate([run[index] for run in runs]).reshape(n_clips, n_patches, dim)
            pooled.append(features.mean(axis=1) if self.params["pooling"] == "mean" else features.max(axis=1))
        if not self._multi_layer:
            return pooled[0].astype(np.float32)
        stacked = np.zeros((n_clips, *self.output_shape), dtype=np.float32)
        for index, (vectors, dim) in enumerate(zip(pooled, self._dims)):
            stacked[:, index, :dim] = vectors
        return stacked

    def describe_model(self) -> dict[str, Any]:
        layers = {"layer": self.params["layer"]}
        if self._multi_layer:
            names = list(self._layer_names)
            layers = {"layer": names, "layer_names": names, "layer_dims": list(self._dims)}
        pooling = (
            f"{self.params['pooling']} over non-overlapping {PATCH_SECONDS:g}-s patches "
            f"({PATCH_FRAMES} frames), remainder dropped"
        )
        if set(self._layer_names) & set(FRAME_LAYERS):
            pooling += f"; frame layers ({', '.join(FRAME_LAYERS)}) first averaged over each patch's frames"
        return {
            "weights": self.params["weights"],
            "weights_path": self.checkpoint,
            "weights_sha256": self._weights_sha256,
            **layers,
            "pooling": pooling,
            "input": (
                f"log10(10000 * float16(mel) + 1) in float32; mel: {musicnn_config.N_MELS} bands, "
                f"n_fft {musicnn_config.FFT_SIZE}, hop {musicnn_config.FFT_HOP} at {musicnn_config.SR} Hz"
            ),
            "musicnn_version": importlib.metadata.version("musicnn"),
            "tensorflow_version": tf.__version__,
        }

    def close(self) -> None:
        self._session.close()

    def _inference_session(
        self, weights: dict[str, np.ndarray]
    ) -> tuple[tf.compat.v1.Session, tf.Tensor, list[tf.Tensor]]:
        """``(session, patches placeholder, one feature tensor per layer)`` of the inference graph over ``weights``."""
        graph = tf.Graph()
        with graph.as_default():
            patches = tf.compat.v1.placeholder(
                tf.float32, [None, PATCH_FRAMES, musicnn_config.N_MELS], name="log_mel_patches"
            )
            outputs = inference_graph(patches, weights)
            features = [outputs[layer] for layer in self._layer_names]
        config = tf.compat.v1.ConfigProto()
        config.gpu_options.allow_growth = True  # take GPU memory as needed, not all of it up front
        # TensorFlow sizes its thread pools by the machine's cores and ignores OMP_NUM_THREADS,
        # which torch, MKL and OpenBLAS follow and Snakemake sets to the job's threads: follow it
        # too, so a 1-thread job does not run 2 threads beside another job on 2 cores.
        if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
            config.intra_op_parallelism_threads = config.inter_op_parallelism_threads = int(os.environ["OMP_NUM_THREADS"])
        if self.settings.device == "cpu":
            config.device_count["GPU"] = 0
        return tf.compat.v1.Session(graph=graph, config=config), patches, features


def restore_weights(weights: str, checkpoint: str) -> dict[str, np.ndarray]:
    """Restore musicnn's checkpoint into musicnn's own graph and return its verified variables by name.

    Unlike ``musicnn.extractor``, a failed restore is never swallowed: restore
    errors propagate, and every variable is then compared with its value read
    straight from the checkpoint file (RuntimeError on any difference).
    """
    graph = tf.Graph()
    with graph.as_default(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*tf\.(layers|keras).* is deprecated", category=UserWarning)
        patches = tf.compat.v1.placeholder(tf.float32, [None, PATCH_FRAMES, musicnn_config.N_MELS])
        try:
            musicnn_models.define_model(patches, False, weights, WEIGHTS[weights])
        except AttributeError as error:
            if "Keras 3" in str(error):
                raise RuntimeError(
                    "musicnn needs legacy Keras: TF_USE_LEGACY_KERAS=1 must be set before TensorFlow first loads "
                    "Keras, but this process loaded Keras 3 earlier"
                ) from error
            raise
        variables = tf.compat.v1.global_variables()
        initialise = tf.compat.v1.global_variables_initializer()
        saver = tf.compat.v1.train.Saver(variables)
    with tf.compat.v1.Session(graph=graph, config=tf.compat.v1.ConfigProto(device_count={"GPU": 0})) as session:
        with graph.as_default():
            session.run(initialise)
            saver.restore(session, checkpoint)  # raises on a missing or incompatible checkpoint
            values = session.run(variables)
    names = [variable.op.name for variable in variables]
    _verify_restored(dict(zip(names, values)), checkpoint)
    return dict(zip(names, values))


def _verify_restored(values: dict[str, np.ndarray], checkpoint: str) -> None:
    """Raise RuntimeError unless every variable holds exactly its value in ``checkpoint``."""
    reader = tf.compat.v1.train.NewCheckpointReader(checkpoint)
    for name, value in values.items():
        if not reader.has_tensor(name):
            raise RuntimeError(
                f"musicnn checkpoint {checkpoint} has no variable {name!r}: wrong weights for this architecture"
            )
        stored = reader.get_tensor(name)
        if stored.shape != value.shape or not np.array_equal(stored, value):
            raise RuntimeError(
                f"musicnn variable {name!r} does not hold its value from checkpoint {checkpoint} after restoring: "
                "the weights were not loaded"
            )


# musicnn's layers, as (conv, batch norm) variable scopes in the order define_model creates them.
_INPUT_NORM = "batch_normalization"
_TIMBRAL = [("conv2d", "batch_normalization_1"), ("conv2d_1", "batch_normalization_2")]  # kernels 7x38, 7x67
_TEMPORAL = [
    ("conv2d_2", "batch_normalization_3"),
    ("conv2d_3", "batch_normalization_4"),
    ("conv2d_4", "batch_normalization_5"),
]
_MIDEND = [
    ("conv2d_5", "batch_normalization_6"),
    ("conv2d_6", "batch_normalization_7"),
    ("conv2d_7", "batch_normalization_8"),
]
_POOL_NORM, _DENSE, _DENSE_NORM, _OUTPUT = "batch_normalization_9", "dense", "batch_normalization_10", "dense_1"
_BATCH_NORM_EPSILON = 1e-3  # tf.compat.v1.layers.batch_normalization's default, which musicnn uses


def inference_graph(patches: tf.Tensor, weights: dict[str, np.ndarray]) -> dict[str, tf.Tensor]:
    """musicnn's ``build_musicnn`` forward pass at inference, rearranged to be cheaper, with ``weights`` as constants.

    Args:
        patches: ``(P, 187, 96)`` float32 log-mel patches.
        weights: variable name -> value, as :func:`restore_weights` returns.

    Returns:
        layer name -> ``(P, d)`` float32 tensor, one vector per patch, for
        every layer of :data:`LAYERS` (frame layers averaged over the patch's
        frames). A session computes only what it fetches, so asking for one
        layer costs no more than a graph built for that layer alone.

    musicnn's front end applies ReLU and batch norm to every (time, frequency,
    filter) activation, then max-pools over frequency. Both are monotone per
    filter, so pooling first is exact: ``max_f BN(relu(z)) = BN(relu(max_f z))``
    for a positive batch-norm scale, and ``BN(relu(min_f z))`` for a negative
    one, where ``min_f z = -max_f(-z)`` comes from negating that filter's
    weights. The big activation tensors then see one max-pool and nothing else,
    which saves about a third of the CPU time; the output equals musicnn's graph
    up to float rounding (~1e-6, tested). The rest follows ``build_musicnn``.
    """

    def norm(x: tf.Tensor, scope: str) -> tf.Tensor:  # batch norm at inference: a per-channel affine map
        scale = weights[f"{scope}/gamma"] / np.sqrt(weights[f"{scope}/moving_variance"] + _BATCH_NORM_EPSILON)
        offset = weights[f"{scope}/beta"] - weights[f"{scope}/moving_mean"] * scale
        return x * scale.astype(np.float32) + offset.astype(np.float32)

    def pad_time(x: tf.Tensor) -> tf.Tensor:
        return tf.pad(x, [[0, 0], [3, 3], [0, 0], [0, 0]])

    def front_block(x: tf.Tensor, conv: str, bn: str, padding: str) -> tf.Tensor:
        """conv -> ReLU -> batch norm -> max over frequency, pooled first: ``(P, T, F, 1)`` -> ``(P, T, filters)``."""
        sign = np.where(weights[f"{bn}/gamma"] < 0, -1.0, 1.0).astype(np.float32)
        signed = tf.nn.conv2d(x, weights[f"{conv}/kernel"] * sign, 1, padding) + weights[f"{conv}/bias"] * sign
        return norm(tf.nn.relu(tf.reduce_max(signed, axis=2) * sign), bn)

    def mid_block(x: tf.Tensor, conv: str, bn: str) -> tf.Tensor:
        """``(P, T, C, 1)`` -> conv over time (all C at once) -> ReLU -> batch norm -> ``(P, T, filters, 1)``."""
        activated = tf.nn.relu(
            tf.nn.conv2d(pad_time(x), weights[f"{conv}/kernel"], 1, "VALID") + weights[f"{conv}/bias"]
        )
        return tf.transpose(norm(activated, bn), [0, 1, 3, 2])

    normalized = norm(tf.expand_dims(patches, 3), _INPUT_NORM)  # (P, 187, 96, 1)
    front = tf.concat(
        [front_block(pad_time(normalized), conv, bn, "VALID") for conv, bn in _TIMBRAL]
        + [front_block(normalized, conv, bn, "SAME") for conv, bn in _TEMPORAL],
        axis=2,
    )  # (P, 187, 561)
    front = tf.expand_dims(front, 3)
    conv1 = mid_block(front, *_MIDEND[0])
    conv2 = mid_block(conv1, *_MIDEND[1]) + conv1
    conv3 = mid_block(conv2, *_MIDEND[2]) + conv2
    midend = tf.concat([front, conv1, conv2, conv3], axis=2)  # (P, 187, 753, 1)

    max_pool, mean_pool = tf.reduce_max(midend, axis=1), tf.reduce_mean(midend, axis=1)  # (P, 753, 1) each
    outputs = {"mean_pool": tf.squeeze(mean_pool, [2]), "max_pool": tf.squeeze(max_pool, [2])}
    # midend's channels are [timbral | temporal | cnn1 | cnn2 | cnn3]: a frame layer's time mean is its slice
    filters = [sum(weights[f"{conv}/kernel"].shape[-1] for conv, _ in group) for group in (_TIMBRAL, _TEMPORAL)]
    filters += [weights[f"{conv}/kernel"].shape[-1] for conv, _ in _MIDEND]
    for name, start, width in zip(FRAME_LAYERS, np.cumsum([0, *filters[:-1]]), filters):
        outputs[name] = outputs["mean_pool"][:, int(start) : int(start + width)]
    pooled = norm(
        tf.reshape(tf.concat([max_pool, mean_pool], axis=2), [-1, 2 * 753]), _POOL_NORM
    )  # max/mean interleaved
    penultimate = norm(
        tf.nn.relu(tf.matmul(pooled, weights[f"{_DENSE}/kernel"]) + weights[f"{_DENSE}/bias"]), _DENSE_NORM
    )
    outputs["penultimate"] = penultimate
    logits = tf.matmul(penultimate, weights[f"{_OUTPUT}/kernel"]) + weights[f"{_OUTPUT}/bias"]
    outputs["taggram"] = tf.nn.sigmoid(logits)
    return outputs


def _resolve_layers(spec: Any) -> list[str] | None:
    """The layer names config value ``layer`` asks for (one name, a list, or ``"all"``); None if invalid."""
    if spec == ALL_LAYERS:
        return list(LAYERS)
    names = [spec] if isinstance(spec, str) else spec
    if not isinstance(names, (list, tuple)) or not names or len(set(map(str, names))) != len(names):
        return None
    return list(names) if all(isinstance(name, str) and name in LAYERS for name in names) else None


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
