"""Fixtures of the tracking tests (helpers live in trk_helpers.py)."""
import pytest
import torch
from trk_helpers import make_sequence, write_info_file


@pytest.fixture
def synthetic_otb(tmp_path):
    """Two short sequences in OTB layout with an info file."""
    root = str(tmp_path / 'otb')
    boxes = {}
    for i, name in enumerate(['Alpha', 'Beta']):
        boxes[name] = make_sequence(root, name, num_frames=24, seed=i)
    write_info_file(root, [(f'{n}/img', f'{n}/groundtruth_rect.txt', 1,
                            len(b)) for n, b in boxes.items()])
    return root, boxes


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The tracking tests run small tensors; one thread avoids OpenMP
    oversubscription when other jobs share the 2 cores (restored after)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
