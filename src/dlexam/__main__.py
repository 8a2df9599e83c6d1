"""`python -m dlexam ...` (and `torchrun -m dlexam ...`) run the command line."""

from dlexam.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
