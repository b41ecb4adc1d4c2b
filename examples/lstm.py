"""A TF1-style recurrent network: an LSTM over sequences of different lengths
(`tf.nn.dynamic_rnn` with `sequence_length`), trained with Adam, checkpointed and exported.

    python examples/lstm.py [OUT_DIR] [--steps N]

The task: each sequence is 4 to 16 bits; the label says whether it holds more ones than
zeros. The network reads the bits one at a time and classifies from its last state. The
program prints the loss as it trains, then the accuracy on unseen sequences (0.95 or better)
and where it wrote the model:

    test accuracy: 0.99
    checkpoint: OUT_DIR/lstm.ckpt-300
    saved model: OUT_DIR/lstm_model/1

The checkpoint is a TensorFlow checkpoint (the LSTM's variables are "rnn/lstm_cell/kernel" and
"rnn/lstm_cell/bias", as TensorFlow names them) and the SavedModel serves as it is:
`tensorslow-model-server --model_name=lstm --model_base_path=OUT_DIR/lstm_model`, with inputs
"bits" [batch, time, 1] (float32, zero-padded) and "lengths" [batch] (int32).
"""

import argparse
import os

import numpy as np

import tensorslow as tf

MAX_LEN = 16


def make_sequences(n, rng):
    """(bits [n, MAX_LEN, 1] zero-padded, lengths [n], labels [n]); odd lengths only, so no
    sequence is a tie."""
    lengths = rng.randint(2, MAX_LEN // 2 + 1, size=n) * 2 - 1
    bits = np.zeros((n, MAX_LEN, 1), np.float32)
    labels = np.zeros(n, np.int64)
    for k, length in enumerate(lengths):
        row = (rng.rand(length) < rng.uniform(0.2, 0.8)).astype(np.float32)
        bits[k, :length, 0] = row
        labels[k] = int(row.sum() * 2 > length)
    return bits, lengths.astype(np.int32), labels


def build(units=32):
    bits = tf.placeholder(tf.float32, [None, None, 1], name="bits")
    lengths = tf.placeholder(tf.int32, [None], name="lengths")
    labels = tf.placeholder(tf.int64, [None], name="labels")
    cell = tf.nn.rnn_cell.LSTMCell(units)
    # The inputs as +1/-1 so a zero pad and a zero bit differ.
    _, state = tf.nn.dynamic_rnn(cell, bits * 2.0 - 1.0, sequence_length=lengths,
                                 dtype=tf.float32)
    logits = tf.layers.dense(state.h, 2, name="logits")
    probabilities = tf.nn.softmax(logits, name="probabilities")
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), labels), tf.float32))
    global_step = tf.train.get_or_create_global_step()
    train = tf.train.AdamOptimizer(0.01).minimize(loss, global_step=global_step)
    return bits, lengths, labels, probabilities, loss, accuracy, train, global_step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default="out")
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    rng = np.random.RandomState(0)
    train_x, train_len, train_y = make_sequences(2048, rng)
    test_x, test_len, test_y = make_sequences(512, rng)

    tf.set_random_seed(0)
    bits, lengths, labels, probabilities, loss, accuracy, train, step = build()
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for i in range(args.steps):
            batch = rng.randint(0, len(train_x), size=64)
            longest = int(train_len[batch].max())  # no step past the longest sequence
            feed = {bits: train_x[batch, :longest], lengths: train_len[batch],
                    labels: train_y[batch]}
            _, value = sess.run([train, loss], feed)
            if i % 50 == 0:
                print(f"step {i}: loss {value:.3f}")
        test = sess.run(accuracy, {bits: test_x, lengths: test_len, labels: test_y})
        print(f"test accuracy: {test:.2f}")
        os.makedirs(args.out_dir, exist_ok=True)
        prefix = saver.save(sess, os.path.join(args.out_dir, "lstm.ckpt"), global_step=step)
        print(f"checkpoint: {prefix}")
        export_dir = os.path.join(args.out_dir, "lstm_model", "1")
        if not os.path.exists(export_dir):
            tf.saved_model.simple_save(sess, export_dir,
                                       inputs={"bits": bits, "lengths": lengths},
                                       outputs={"probabilities": probabilities})
        print(f"saved model: {export_dir}")


if __name__ == "__main__":
    main()
