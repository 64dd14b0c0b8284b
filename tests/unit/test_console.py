"""What a job says on the console: its error's message, and none of TensorFlow's start-up lines."""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]



def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_an_uncaught_error_reaches_the_console_and_the_traceback_the_log(tmp_path):
    log = tmp_path / "job.log"
    code = (
        "import sys; "
        f"sys.stderr = open({str(log)!r}, 'w'); "
        "from musicrec.console import report_errors_on_console; "
        "report_errors_on_console('extract_embeddings musicnn shard 0'); "
        "from musicrec.extraction import BadAudioError; "
        "raise BadAudioError('2 track(s) could not be embedded:\\n  t04: missing file')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    assert "extract_embeddings musicnn shard 0 failed: BadAudioError: 2 track(s) could not be embedded" in result.stderr
    assert "t04: missing file" in result.stderr
    assert "Traceback" in log.read_text() and "Traceback" not in result.stderr


def test_native_writes_to_descriptor_2_go_to_the_log_inside_the_block(tmp_path):
    log = tmp_path / "job.log"
    result = run(
        "import os, sys; "
        f"sys.stderr = open({str(log)!r}, 'w'); "
        "from musicrec.console import native_output_to_log\n"
        "with native_output_to_log():\n"
        "    os.write(2, b'I0000 port.cc:153] oneDNN custom operations are on\\n')\n"
        "os.write(2, b'after the block\\n')"
    )
    assert result.returncode == 0
    assert "oneDNN" in log.read_text() and "oneDNN" not in result.stderr
    assert result.stderr == "after the block\n"


def test_musicnn_imports_tensorflow_and_builds_its_session_with_native_output_in_the_log():
    # Structural, so the test need not pay TensorFlow's 15-40 s import: every TensorFlow / musicnn
    # import and the session set-up sit inside `with native_output_to_log()` (the mechanism is
    # tested above on a real write to descriptor 2).
    tree = ast.parse((REPO / "src" / "musicrec" / "backbones" / "musicnn.py").read_text())
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.With) and any(
            isinstance(item.context_expr, ast.Call) and getattr(item.context_expr.func, "id", "") == "native_output_to_log"
            for item in node.items
        ):
            guarded |= {id(inner) for inner in ast.walk(node)}
    heavy_imports = [
        node
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        and any(
            name.split(".")[0] in ("tensorflow", "musicnn")
            for name in ([alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""])
        )
    ]
    session_calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == "restore_weights")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "_inference_session")
        )
    ]
    assert len(heavy_imports) >= 2 and session_calls
    assert all(id(node) in guarded for node in heavy_imports + session_calls)
