"""Labelled digits for Problem 1: the official SVHN files (official.py), photos (images.py, pixels.py) and
image folders (image_folder.py), the shared MNIST digits (mnist.py) and the real-data checks (realdata.py)."""

# The official Format 2 splits (light: the command line's choices come from here).
SPLITS = ("train", "test", "extra")

# SVHN's Format 2: every crop is a digit's box made square and resized to SIZE x SIZE pixels. The exam's
# Problem 1 network reads that size (its table's input; tests/svhn check the two agree).
SIZE = 32
