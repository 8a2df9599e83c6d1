"""What a checkpoint says made it, as every command prints it: `trained with:` (its provenance, in
:func:`dlexam.checkpoint.format_provenance`'s words) and `made by:` (the command that made it, where it names one).
`sort evaluate` and `svhn evaluate` print these lines; each is one line of output, whatever the file holds (a
newline or an escape in it is written as Python escapes it: :func:`dlexam.plain.printable`)."""

from __future__ import annotations

from collections.abc import Mapping


def made_lines(provenance: Mapping | None, command: str | None, *, indent: str = "",
               trained: str = "trained") -> list[str]:
    """["{indent}{trained} with: ...", "{indent}made by: ..."] (the second only where `command` names one)."""
    from dlexam.checkpoint import format_provenance
    from dlexam.plain import printable

    lines = [f"{indent}{trained} with: {printable(format_provenance(provenance))}"]
    if command:
        lines.append(f"{indent}made by: {printable(command)}")
    return lines
