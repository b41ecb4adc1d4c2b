"""examples/lstm.py: an LSTM over sequences of different lengths trains to what its header
says, its checkpoint has TensorFlow's variable names, and the model server serves its
SavedModel, answering what the graph computes in process."""

import os
import re
import subprocess
import sys

import numpy as np

import tensorslow as ts
from serving.client import PredictionServiceClient
from serving.server import ModelServer, ServerOptions
from tensorslow.train import saver as saver_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_lstm_example_trains_checkpoints_exports_and_serves(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "lstm.py"),
                          str(tmp_path), "--steps", "150"], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    accuracy = float(re.search(r"test accuracy: ([0-9.]+)", out.stdout).group(1))
    assert accuracy >= 0.95, out.stdout
    stored = saver_lib.read_variables(str(tmp_path / "lstm.ckpt-150"))
    assert stored["global_step"] == 150
    assert stored["rnn/lstm_cell/kernel"].shape == (33, 128)
    assert stored["rnn/lstm_cell/bias"].shape == (128,)

    sys.path.insert(0, os.path.join(ROOT, "examples"))
    try:
        from lstm import make_sequences
    finally:
        sys.path.pop(0)
    bits, lengths, labels = make_sequences(32, np.random.RandomState(7))
    with ts.Graph().as_default(), ts.Session() as sess:
        meta = ts.saved_model.loader.load(sess, ["serve"], str(tmp_path / "lstm_model" / "1"))
        signature = meta.signature_def["serving_default"]
        in_process = sess.run(signature.outputs["probabilities"].name,
                              {signature.inputs["bits"].name: bits,
                               signature.inputs["lengths"].name: lengths})
    assert (in_process.argmax(axis=1) == labels).mean() >= 0.9

    server = ModelServer(ServerOptions(
        port=-1, rest_api_port=0, host="127.0.0.1", model_name="lstm",
        model_base_path=str(tmp_path / "lstm_model"), initial_load_timeout_seconds=60,
        max_num_load_retries=0))
    server.start()
    try:
        client = PredictionServiceClient(f"127.0.0.1:{server.grpc_port}", timeout=30)
        served = client.predict("lstm", {"bits": bits, "lengths": lengths})["probabilities"]
        client.close()
    finally:
        server.stop(grace=2)
    np.testing.assert_allclose(served, in_process, rtol=1e-6, atol=1e-7)
