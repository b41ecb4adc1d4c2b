"""A TF1-style convolutional network: conv2d, batch normalization and dropout switched by a
`training` placeholder, max pooling, trained with Adam, checkpointed and exported.

    python examples/cnn.py [OUT_DIR] [--steps N]

The data are 12x12 images of a horizontal bar, a vertical bar or a cross, drawn at random
places with noise. The program prints the loss as it trains and then the accuracy on unseen
images (1.00 or close to it) and where it wrote the model:

    test accuracy: 1.00
    checkpoint: OUT_DIR/cnn.ckpt-150
    saved model: OUT_DIR/cnn_model/1

The checkpoint is a TensorFlow checkpoint and the SavedModel serves as it is
(`tensorslow-model-server --model_name=cnn --model_base_path=OUT_DIR/cnn_model`). The
program is written against TF1's API, tf.layers included (TensorFlow releases with Keras 3
no longer have tf.layers).
"""

import argparse
import os

import numpy as np

import tensorslow as tf

CLASSES = ("horizontal", "vertical", "cross")


def make_images(n, rng):
    images = rng.normal(0, 0.3, size=(n, 12, 12, 1)).astype(np.float32)
    labels = rng.randint(0, 3, size=n)
    for image, label in zip(images, labels):
        row, col = rng.randint(2, 10, size=2)
        if label in (0, 2):
            image[row, 1:11, 0] += 1.0
        if label in (1, 2):
            image[1:11, col, 0] += 1.0
    return images, labels.astype(np.int64)


def build():
    images = tf.placeholder(tf.float32, [None, 12, 12, 1], name="images")
    labels = tf.placeholder(tf.int64, [None], name="labels")
    training = tf.placeholder_with_default(False, [], name="training")
    h = tf.layers.conv2d(images, 8, 3, padding="same", use_bias=False)
    h = tf.nn.relu(tf.layers.batch_normalization(h, training=training))
    h = tf.layers.max_pooling2d(h, 2, 2)
    h = tf.layers.conv2d(h, 16, 3, padding="same", activation=tf.nn.relu)
    h = tf.layers.max_pooling2d(h, 2, 2)
    h = tf.layers.dropout(tf.layers.flatten(h), rate=0.3, training=training)
    logits = tf.layers.dense(h, len(CLASSES), name="logits")
    probabilities = tf.nn.softmax(logits, name="probabilities")
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), labels), tf.float32))
    global_step = tf.train.get_or_create_global_step()
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        train = tf.train.AdamOptimizer(0.01).minimize(loss, global_step=global_step)
    return images, labels, training, probabilities, loss, accuracy, train, global_step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default="out")
    parser.add_argument("--steps", type=int, default=150)
    args = parser.parse_args()
    rng = np.random.RandomState(0)
    train_x, train_y = make_images(512, rng)
    test_x, test_y = make_images(256, rng)

    tf.set_random_seed(0)
    images, labels, training, probabilities, loss, accuracy, train, step = build()
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for i in range(args.steps):
            batch = rng.randint(0, len(train_x), size=64)
            feed = {images: train_x[batch], labels: train_y[batch], training: True}
            _, value = sess.run([train, loss], feed)
            if i % 50 == 0:
                print(f"step {i}: loss {value:.3f}")
        test = sess.run(accuracy, {images: test_x, labels: test_y})
        print(f"test accuracy: {test:.2f}")
        os.makedirs(args.out_dir, exist_ok=True)
        prefix = saver.save(sess, os.path.join(args.out_dir, "cnn.ckpt"), global_step=step)
        print(f"checkpoint: {prefix}")
        export_dir = os.path.join(args.out_dir, "cnn_model", "1")
        if not os.path.exists(export_dir):
            tf.saved_model.simple_save(sess, export_dir, inputs={"images": images},
                                       outputs={"probabilities": probabilities})
        print(f"saved model: {export_dir}")


if __name__ == "__main__":
    main()
