"""Digits dlexam makes itself: plain synthetic digits as SVHN .mat files (digits.py) and SynDigits-style
house-number scenes (scenes.py) in the typefaces of fonts.py."""
