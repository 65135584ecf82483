"""The original (pre-optimisation) colour jitter of seco_mm, kept as a yardstick.

``bench_augment.py`` times it side by side with the current
``RandomColorJitter`` and checks that both give the same image for the same
random draw (the optimisation must keep the augmentation distribution).
Straightforward numpy: a new float32 array per operation.
"""
import cv2
import numpy as np

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _gray(img):
    return (img @ _LUMA)[..., None]


def reference_jitter(img: np.ndarray, ops) -> np.ndarray:
    """Apply ``ops`` [(name, factor), ...] in order to an (H, W, 3) uint8."""
    out = img.astype(np.float32)
    for op, f in ops:
        if op == 'brightness':
            out = out * f
        elif op == 'contrast':
            out = out * f + (1 - f) * _gray(out).mean()
        elif op == 'saturation':
            out = out * f + (1 - f) * _gray(out)
        else:
            hsv = cv2.cvtColor(np.clip(out, 0, 255) / 255.0, cv2.COLOR_RGB2HSV)
            hsv[..., 0] = (hsv[..., 0] + f * 360.0) % 360.0
            out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0
        out = np.clip(out, 0, 255)
    return out.astype(np.uint8)
