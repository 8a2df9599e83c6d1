"""Problem 1: the exam's CNN for SVHN digits: model, data, synthetic digits, training, DDP."""
