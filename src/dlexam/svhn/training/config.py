"""`svhn train`'s training settings (:class:`TrainConfig`): epochs, batch, learning rate, optimizer, seed, threads.

What the loop (:mod:`dlexam.svhn.training.loop`) and its steps (:mod:`dlexam.svhn.training.step`) read, and what a
run's last.pt records (:meth:`TrainConfig.to_dict`) and reads back (:meth:`TrainConfig.from_dict`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from dlexam.limits import known_keys


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 256  # the global batch; under DDP each process takes batch_size / world
    lr: float = 0.1  # peak learning rate, decayed by a cosine over all steps
    optimizer: str = "sgd"  # "sgd" (momentum 0.9, Nesterov) or "adam"
    weight_decay: float = 5e-4
    seed: int = 0  # drives initialisation and the order of each epoch
    channels_last: bool = True
    threads: int | None = None  # torch.set_num_threads; None keeps PyTorch's default

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """The settings :meth:`to_dict` wrote (a run's last.pt); a key it does not have is refused
        (:func:`dlexam.limits.known_keys`), never dropped."""
        known_keys(d, cls.__dataclass_fields__)
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def to_dict(self) -> dict:
        return asdict(self)
