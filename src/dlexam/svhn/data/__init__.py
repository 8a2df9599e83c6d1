"""Labelled digits for Problem 1: the official SVHN files (official.py), photos and image folders
(images.py), the shared MNIST digits (mnist.py) and the real-data checks (realdata.py)."""

# The official Format 2 splits (light: the command line's choices come from here).
SPLITS = ("train", "test", "extra")
