"""Errors a user can cause. The CLI prints them as one line and exits with status 2."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class UserError(Exception):
    """A problem with the user's input: a bad token, a missing file, a wrong checkpoint."""


class InputsTogether(UserError):
    """A problem of several inputs together, none of them wrong alone (weights of 1e6 at T = 1e-300, whose gradient
    overflows float64): an edge that names the input at fault names none, and the message says which inputs."""


class EveryRank(UserError):
    """A refusal that every rank of a distributed run (torchrun) raises alike, having agreed on it over the process
    group: one rank says it for all of them, `speaker` (rank 0, or rank 1 where rank 0 shows a defect's traceback
    instead); the command line prints it from that rank alone, and every rank exits 2."""

    def __init__(self, message: str, speaker: int = 0) -> None:
        super().__init__(message)
        self.speaker = speaker


class NonFiniteLoss(UserError):
    """Training stopped because the loss became NaN or infinite (a learning rate too high, say).

    `note`, if given, follows the message: the likely cause and what was kept."""

    def __init__(self, where: str, value: float, note: str = "") -> None:
        super().__init__(f"training stopped: the loss became {value} at {where}" + (f" {note}" if note else ""))
        self.where, self.value = where, value



class UnheldNumber(UserError):
    """A number typed as text that float64 cannot hold (1e-400, which float() reads as 0; 1e400, read as infinity),
    named as typed (:func:`dlexam.limits.float_text`). An edge may put the field's name in front (/api/geoff's T)."""


class NamedSettings(UserError):
    """An error that names settings by the library's names for them ("val_fraction must be ...").

    An edge may name them its own way: the command line says the flag that gave each value ("--val-fraction must
    be ...", `dlexam.cli.flag_message`). `settings()` lists (name, value) as the message names them; `named(names)`
    is the message with some renamed (`names`: library name -> the edge's), and with `shown` (library name -> text)
    a value quoted as the edge's user typed it where the message quotes it ("got 0" for a flag typed 0, not
    "got 0.0")."""

    def settings(self) -> list[tuple[str, object]]:
        raise NotImplementedError

    def named(self, names: Mapping[str, str], shown: Mapping[str, str] | None = None) -> str:
        raise NotImplementedError


class NotReplacing(NamedSettings):
    """A refusal to replace a file or a training run, which ends with the ways around it: `ways` are words
    ("choose another folder") or the settings that would lift it, "force" and "resume". The library names those
    by themselves ("force replaces it", "resume it"); an edge its own way: the command line by its flag
    ("--force replaces it", "--resume resumes it": `dlexam.cli.flag_message`), the one message builder for all."""

    SETTINGS = ("force", "resume")

    def __init__(self, head: str, ways: Sequence[str], tail: str = "") -> None:
        self.head, self.ways, self.tail = head, tuple(ways), tail
        super().__init__(self.named({}))

    def settings(self) -> list[tuple[str, object]]:
        return [(w, False) for w in self.ways if w in self.SETTINGS]  # refused: the setting was not given

    def named(self, names: Mapping[str, str], shown: Mapping[str, str] | None = None) -> str:
        said = {"force": f"{names.get('force', 'force')} replaces it",
                "resume": f"{names['resume']} resumes it" if "resume" in names else "resume it"}
        ways = [said.get(w, w) for w in self.ways]
        joined = ways[0] if len(ways) == 1 else (
            ", ".join(ways[:-1]) + ("," if len(ways) > 2 else "") + " or " + ways[-1])
        return self.head + joined + self.tail


class BadValue(NamedSettings):
    """A setting outside its range: `name`, its `value`, and the `problem` ("must be ..., got 2.0")."""

    def __init__(self, name: str, value: object, problem: str) -> None:
        self.name, self.value, self.problem = name, value, problem
        super().__init__(self.named({}))

    def settings(self) -> list[tuple[str, object]]:
        return [(self.name, self.value)]

    def named(self, names: Mapping[str, str], shown: Mapping[str, str] | None = None) -> str:
        problem, quoted = self.problem, f"got {self.value!r}"
        if shown and self.name in shown and problem.endswith(quoted):
            problem = problem[: -len(quoted)] + f"got {shown[self.name]}"
        return f"{names.get(self.name, self.name)} {problem}"


class UnknownKey(UserError, ValueError):
    """A key of a config read from a file (a checkpoint's) that the config does not have: a misspelt one is refused,
    never dropped (:func:`dlexam.limits.known_keys`). A ValueError too, as :class:`BadConfigValue`: the callers of a
    config's ``from_dict`` catch that and name the file."""


class BadConfigValue(BadValue, ValueError):
    """A :class:`BadValue` of a config whose library callers catch ValueError (`svhn.model.CNNConfig`)."""


UNSET = "not set"  # a run's setting that was never given (its default), as a refused resume says it


class SettingsDiffer(NamedSettings):
    """Settings given to resume a run that differ from the run's own, all of them: `differ` lists (name, the value
    given, how it differs: "0.1, not 0.5")."""

    def __init__(self, where: str, differ: list[tuple[str, object, str]]) -> None:
        self.where, self.differ = where, differ
        super().__init__(self.named({}))

    def settings(self) -> list[tuple[str, object]]:
        return [(name, value) for name, value, _ in self.differ]

    def named(self, names: Mapping[str, str], shown: Mapping[str, str] | None = None) -> str:
        def part(name: str, how: str) -> str:
            label = names.get(name, name)
            if how.startswith(f"{UNSET}, not "):  # "no --threads, not --threads 2" ("--threads not set, not 2")
                return f"no {label}, not {label} {how[len(UNSET) + len(', not '):]}"
            return f"{label} {how}"

        return (f"resume: {self.where} was trained with " + "; ".join(part(n, how) for n, _, how in self.differ) +
                " (resume continues a run with its own settings; start a new run to change them)")


class SettingsTogether(NamedSettings):
    """Settings that do not go together, each named in `text` as {name}: "{n_heads} 7 is more than {d_model} 6";
    `values` holds each one's value (None where it was not given)."""

    def __init__(self, text: str, values: Mapping[str, object]) -> None:
        self.text, self.values = text, dict(values)
        super().__init__(self.named({}))

    def settings(self) -> list[tuple[str, object]]:
        return list(self.values.items())

    def named(self, names: Mapping[str, str], shown: Mapping[str, str] | None = None) -> str:
        out = self.text
        for name in self.values:
            out = out.replace("{" + name + "}", names.get(name, name))
        return out


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, a service manager) while a command runs: raised in the main thread, so that the
    command ends as it does on Ctrl-C, its folders and locks closed (the command line's exit status is 143)."""


STOP_SIGNALS: list[int] = []  # the SIGINT / SIGTERM signals a command has received (recorded by the command line's
#                               handlers, which then raise KeyboardInterrupt / Terminated in the main thread)


def stopped() -> KeyboardInterrupt | None:
    """The stop a command has received, as the exception its signal raises (KeyboardInterrupt for SIGINT, Terminated
    for SIGTERM), or None. For code that must tell a stop from a failure after the fact: a helper process that a
    Ctrl-C to the process group ended looks like a crash (BrokenProcessPool), and a signal's own exception can be
    lost (raised inside a finaliser or a weakref callback, where Python prints and drops it)."""
    import signal

    if not STOP_SIGNALS:
        return None
    return Terminated() if STOP_SIGNALS[0] == signal.SIGTERM else KeyboardInterrupt()


def missing(path) -> str:
    """A path that does not exist, as a "not found" message names it: the path itself, or, where it is a link whose
    target is gone, "d.pt (d.pt is a link to gone.pt, which does not exist)" (the link is there; ls shows it); where
    a folder above it is such a link, "mnist/t10k.gz (mnist is a link to gone, which does not exist)"."""
    import os
    from pathlib import Path

    p = Path(path)
    if p.is_symlink():
        return f"{p} ({p.name} is a link to {os.readlink(p)}, which does not exist)"
    for folder in p.parents:  # nearest first; nothing under a dangling link can be a link itself
        if folder.is_symlink() and not folder.exists():
            return f"{p} ({folder} is a link to {os.readlink(folder)}, which does not exist)"
    return str(p)


def unusable_path(text) -> str | None:
    """Why the file system cannot even look at `text`, as a message: a name over its limit (every look, even "is it
    there?", raises OSError ENAMETOOLONG) or a NUL character; None where it can look (whether or not it is there).
    The one wording, for a path given on the command line and one given by an environment variable."""
    import errno
    import os

    try:
        os.lstat(text)
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return f"{text}: a name too long for the file system (most take 255 bytes a name, 4,096 a path)"
    except ValueError:  # a NUL character (never from a command line, whose words cannot hold one)
        return f"{text!r}: a path cannot hold a NUL character"
    return None
