"""A proxy scored on downstream tasks: bits per byte of each item's gold continuation.

:class:`TaskWindows` holds one task's items as token windows (built by
:func:`raymix.data.tasks.task_windows`); :func:`continuation_logprobs` gives the model's
``log p(continuation | context)`` of each item, and :func:`bits_per_byte` the task's
score: its items' nats over their bytes, in bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from raymix.training.loss import token_nll


@dataclass
class TaskWindows:
    """A task's items as windows ``[EOT] + context + continuation`` of ``seq_len + 1``
    tokens (cut from the left, padded with 0).

    ``first`` and ``end`` (per item) delimit the continuation among the predicted
    tokens ``ids[:, 1:]``; ``nbytes`` is its UTF-8 length.
    """

    ids: np.ndarray
    first: np.ndarray
    end: np.ndarray
    nbytes: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@torch.no_grad()
def continuation_logprobs(model: torch.nn.Module, task: TaskWindows, device: torch.device,
                          windows: int, autocast) -> np.ndarray:
    """``log p(continuation | context)`` of each item (natural log, over its tokens).

    ``windows`` items go through the model at a time, each batch cut to its longest
    item; ``autocast`` is the trainer's mixed-precision context for ``device``.
    """
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(task), windows):
        end = task.end[i:i + windows]
        width = int(end.max())
        batch = torch.from_numpy(task.ids[i:i + windows, :width + 1]).to(device)
        with autocast(device):
            hidden = model.model(input_ids=batch[:, :-1]).last_hidden_state
            nll = token_nll(hidden, model.lm_head.weight, batch[:, 1:]).double().cpu().numpy()
        positions = np.arange(width)
        scored = (positions >= task.first[i:i + windows, None]) & (positions < end[:, None])
        out.append(-(nll * scored).sum(axis=1))
    model.train(was_training)
    return np.concatenate(out)


def bits_per_byte(logprobs: np.ndarray, nbytes: np.ndarray) -> float:
    """A task's bits per byte: its items' negative log-probabilities (nats) over their
    bytes, in bits."""
    return float(-logprobs.sum() / (nbytes.sum() * math.log(2)))
