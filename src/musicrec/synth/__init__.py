"""LLM-teacher synthesis of user-interest triplets, the embedder benchmark and the student.

One file per idea: ``weights`` (packaged model files, hash-verified), ``server`` (a
local llama.cpp server in a child process), ``client`` (the OpenAI-protocol teacher
with validation and repair), ``cache`` (the SQLite call store), ``schemas`` (the
answers' JSON schemas and validators), ``segments`` (listening histories as text),
``positives`` / ``negatives`` (the two synthesis phases), ``audit``, ``embedders``,
``embedder_benchmark`` and ``student``.
"""

import os

# transformers imports TensorFlow when it is installed (the musicnn backbone's env), which
# costs about a minute on a busy machine and is never used here; the models load offline.
os.environ.setdefault("USE_TF", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
