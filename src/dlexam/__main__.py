"""`python -m dlexam ...` (and `torchrun -m dlexam ...`) run the command line."""

from dlexam.cli import run

if __name__ == "__main__":
    run()
