"""The shortcut probe: does an embedding group windows by recording rather than by class?

The failure that started this project: SimCLR on BirdCLEF learned *which recording* (its
noise, microphone, gain) instead of *which bird*, and scored 0.67 % kNN. Two crops of one
recording are exactly SimCLR's positives, so an embedding can satisfy its loss by the channel
alone; ``align`` even rewards it. This probe measures it directly.

Take two or more disjoint windows of each held-out recording. For every window, look only at
the windows of its own class (the other windows of its recording, and the windows of other
recordings of that class) and find the most similar one (cosine). ``recording_share`` is the
percentage of windows whose nearest same-class window comes from their *own* recording.
An embedding that knows the bird but not the channel finds its own recording no more often
than chance, ``recording_share_chance``: the share of own-recording windows among the
candidates, averaged over windows. One that keys on the channel finds its own recording
almost always (near 100 %). Windows whose class has no other recording (or whose recording
has no other window) are skipped: the question has no answer for them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def recording_share(features: Tensor, recordings: Tensor, labels: Tensor) -> dict[str, float]:
    """``{"recording_share", "recording_share_chance", "recording_share_windows"}``, shares in percent.

    Args:
        features: ``[W, F]`` one embedding per window.
        recordings: ``[W]`` int64, the recording each window was cut from.
        labels: ``[W]`` int64 class of each window (its recording's); -1 (unlabelled) is skipped.

    NaN shares when no window has both another window of its recording and a window of another
    recording of its class.
    """
    if features.ndim != 2 or recordings.shape != (features.shape[0],) or labels.shape != recordings.shape:
        raise ValueError(f"features [W, F], recordings [W] and labels [W] expected; got {tuple(features.shape)}, "
                         f"{tuple(recordings.shape)}, {tuple(labels.shape)}")
    x = F.normalize(features.float(), dim=1)
    recordings, labels = recordings.to(x.device), labels.to(x.device)
    similarity = x @ x.T  # [W, W]
    same_class = (labels[:, None] == labels[None, :]) & (labels[:, None] >= 0)
    same_recording = recordings[:, None] == recordings[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=x.device)
    own = same_recording & ~eye  # other windows of my recording
    other = same_class & ~same_recording  # windows of other recordings of my class
    eligible = own.any(dim=1) & other.any(dim=1)
    count = int(eligible.sum())
    if count == 0:
        return {"recording_share": float("nan"), "recording_share_chance": float("nan"),
                "recording_share_windows": 0.0}
    candidates = own | other
    masked = similarity.masked_fill(~candidates, float("-inf"))
    nearest = masked.argmax(dim=1)  # [W]: ties go to the lower index, a fixed rule
    found_own = own[torch.arange(len(labels), device=x.device), nearest]
    chance = own.sum(dim=1).double() / candidates.sum(dim=1).clamp(min=1).double()
    return {"recording_share": 100.0 * float(found_own[eligible].double().mean()),
            "recording_share_chance": 100.0 * float(chance[eligible].mean()),
            "recording_share_windows": float(count)}
