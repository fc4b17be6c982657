"""The one place env observations become model input.

Envs emit uint8 frames in HWC layout (gymnasium's convention); models take float CHW in
[0, 1]. Every caller goes through :func:`obs_to_tensor` so the conversion is never
repeated (or subtly varied) elsewhere.
"""

from __future__ import annotations

import numpy as np
import torch


def obs_to_tensor(obs: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (B, H, W, C) or (H, W, C) observations -> float32 (B, C, H, W) in [0, 1].

    The result uses channels-last memory layout, which makes the conv layers markedly faster
    on CPU, while keeping the logical NCHW shape.
    """
    if isinstance(obs, np.ndarray):
        if obs.dtype != np.uint8:
            raise ValueError(f"observations must be uint8 frames (0..255), got dtype {obs.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(obs))
    elif isinstance(obs, torch.Tensor):
        if obs.dtype != torch.uint8:
            raise ValueError(f"observations must be uint8 frames (0..255), got dtype {obs.dtype}")
        t = obs
    else:
        raise ValueError(f"observations must be a numpy array or torch tensor, got {type(obs).__name__}")
    if t.ndim == 3:
        t = t.unsqueeze(0)
    if t.ndim != 4:
        raise ValueError(f"observations must have shape (B, H, W, C) or (H, W, C), got {tuple(t.shape)}")
    t = t.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
    return t.contiguous(memory_format=torch.channels_last)


def tensor_to_frames(x: torch.Tensor) -> np.ndarray:
    """float (B, C, H, W) in [0, 1] -> uint8 (B, H, W, C), the inverse of obs_to_tensor."""
    return (x.detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
