"""Command groups of the `dlexam` CLI; each module exposes register(subparsers)."""
