"""Training Problem 1's CNN: the fast in-memory loop and DDP (loop.py), train-time augmentation
(augment.py), run directories (runs.py) and the recipes that rebuild a model (recipes.py)."""
