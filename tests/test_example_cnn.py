"""examples/cnn.py: a CNN with batch normalization, dropout and a training placeholder trains,
prints what its header says, and its checkpoint and SavedModel load."""

import os
import re
import subprocess
import sys

import numpy as np

import tensorslow as ts
from tensorslow.train import saver as saver_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_cnn_example_trains_and_exports(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "cnn.py"),
                          str(tmp_path), "--steps", "120"], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    accuracy = float(re.search(r"test accuracy: ([0-9.]+)", out.stdout).group(1))
    assert accuracy >= 0.9, out.stdout
    assert f"checkpoint: {tmp_path}/cnn.ckpt-120" in out.stdout
    stored = saver_lib.read_variables(str(tmp_path / "cnn.ckpt-120"))
    assert stored["global_step"] == 120
    assert "batch_normalization/moving_mean" in stored  # the averages moved and were saved
    assert not np.allclose(stored["batch_normalization/moving_mean"], 0)

    sys.path.insert(0, os.path.join(ROOT, "examples"))
    try:
        from cnn import make_images
    finally:
        sys.path.pop(0)
    images, labels = make_images(64, np.random.RandomState(1))
    with ts.Graph().as_default(), ts.Session() as sess:
        meta = ts.saved_model.loader.load(sess, ["serve"], str(tmp_path / "cnn_model" / "1"))
        signature = meta.signature_def["serving_default"]
        probabilities = sess.run(signature.outputs["probabilities"].name,
                                 {signature.inputs["images"].name: images})
    assert (probabilities.argmax(axis=1) == labels).mean() >= 0.9
