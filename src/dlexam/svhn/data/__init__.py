"""Labelled digits for Problem 1: the official SVHN files (official.py), photos and image folders
(images.py), the shared MNIST digits (mnist.py) and the real-data checks (realdata.py)."""
