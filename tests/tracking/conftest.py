"""Fixtures of the tracking tests (helpers live in trk_helpers.py; one
torch thread per test comes from tests/conftest.py)."""
import pytest
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

