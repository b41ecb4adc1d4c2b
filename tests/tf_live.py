"""Live comparisons with TensorFlow, which is not a dependency.

They run when `tensorflow` is importable here, or when TENSORSLOW_TF_PYTHON names a Python
that has it; TensorFlow then runs in a subprocess (`run_tf`), reading and writing files this
library reads and writes. Without it, `requires_tensorflow` skips them, saying how to run them.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest


def tf_python() -> str | None:
    if importlib.util.find_spec("tensorflow") is not None:
        return sys.executable
    return os.environ.get("TENSORSLOW_TF_PYTHON")


TF_PYTHON = tf_python()

requires_tensorflow = pytest.mark.skipif(
    TF_PYTHON is None,
    reason="TensorFlow is not installed (it is optional); set TENSORSLOW_TF_PYTHON to a Python "
           "with TensorFlow to run this live test")


def run_tf(script: str, *args: str, timeout: float = 300, python: str | None = None) -> str:
    """Runs `script` (dedented) on TensorFlow's Python (or `python`) with `args`; its stdout,
    or a failed assertion with its stderr."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    out = subprocess.run([python or TF_PYTHON, "-c", textwrap.dedent(script), *args],
                         capture_output=True, text=True, timeout=timeout, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout
