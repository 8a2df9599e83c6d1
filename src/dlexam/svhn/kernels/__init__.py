"""The fused C++ training kernels of Problem 1's two conv + ReLU + pool stages: the operators (fused.py,
fused.cpp) and their compilation and cache (build.py)."""
