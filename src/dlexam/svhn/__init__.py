"""Problem 1: the exam's CNN for SVHN digits.

model.py (the network and its layer table), inference.py (load, evaluate, predict), inspect.py (one
image's feature maps), shipped.py (the model inside the package), plots.py, demo.py; and the parts in
their folders: kernels/ (fused training kernels), data/ (real digits), synthetic/ (digits dlexam
makes), training/ (the loop, runs and recipes).
"""
