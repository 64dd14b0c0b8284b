"""What a job says on the console: its error's message, and none of TensorFlow's start-up lines."""

import subprocess
import sys



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


def test_musicnn_import_keeps_tensorflows_start_up_lines_off_the_console(tmp_path):
    log = tmp_path / "job.log"
    result = run(f"import sys; sys.stderr = open({str(log)!r}, 'w'); import musicrec.backbones.musicnn")
    assert result.returncode == 0, log.read_text()[-2000:]
    assert result.stderr == ""
