"""tools/extract_frames.py: layout, resume, atomicity, failures, grid."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import seco_mm  # noqa: F401
from mmaction.registry import DATASETS
from mmengine.registry import init_default_scope

from seco_mm.datasets.transforms import (SeCoDecordDecode, SeCoDecordInit,
                                         SeCoSampleIndices, grid_indices)
from tests.conftest import load_tool, write_video

extract = load_tool("extract_frames")
from seco_mm.datasets import extraction  # noqa: E402  (the per-video work)


def _grey_video(path, num_frames, size=(64, 80)):
    """Frame t is flat grey 5 * t (H, W = size): the index is readable."""
    frames = np.stack([np.full(size + (3, ), 5 * t, np.uint8)
                       for t in range(num_frames)])
    write_video(str(path), frames)
    return str(path)


@pytest.fixture
def videos(tmp_path):
    src = tmp_path / 'videos'
    for name, n in (('a/one.mp4', 40), ('a/two.mp4', 25), ('b/three.mp4', 7)):
        _grey_video(src / name, n)
    (src / 'list.txt').write_text('a/one.mp4 3\na/two.mp4 1\nb/three.mp4 0\n')
    return src


def _names(folder):
    return sorted(os.listdir(folder))


def test_layout_list_and_frames(videos, tmp_path):
    out = tmp_path / 'frames'
    rc = extract.main([str(videos), str(out), '--ann-file',
                       str(videos / 'list.txt'), '--num-frames', '10',
                       '--short-side', '32', '--no-progress'])
    assert rc == 0
    assert (out / 'frames_list.txt').read_text().splitlines() == [
        'a/one 10 3', 'a/two 10 1', 'b/three 7 0']
    assert (out / 'failures.txt').read_text() == ''
    assert _names(out / 'a' / 'one') == [f'img_{i:05d}.jpg'
                                         for i in range(1, 11)]
    grid = grid_indices(40, 10)
    assert grid.tolist() == [2, 6, 10, 14, 18, 22, 26, 30, 34, 38]
    for k, t in enumerate(grid, start=1):
        img = cv2.imread(str(out / 'a' / 'one' / f'img_{k:05d}.jpg'))
        assert img.shape == (32, 40, 3)  # short side 32, aspect kept
        assert abs(img.mean() - 5 * t) <= 6  # grid steps are 20 apart
    # a video shorter than N keeps all its frames
    assert len(_names(out / 'b' / 'three')) == 7


def test_reference_template_and_folder_scan(videos, tmp_path):
    out = tmp_path / 'frames'
    summary = extract.run(str(videos), str(out), num_frames=5,
                          template='frame_{:06}.jpg', progress=False)
    assert summary['done'] == 3
    assert _names(out / 'a' / 'two')[0] == 'frame_000001.jpg'
    # no list given: no labels in the frame list
    assert 'a/two 5' in (out / 'frames_list.txt').read_text().splitlines()
    with pytest.raises(ValueError, match='--template'):
        extract.run(str(videos), str(out), template='img.jpg')


def test_bad_videos_go_to_the_failure_report(videos, tmp_path):
    (videos / 'junk.mp4').write_bytes(b'no video here' * 50)
    (videos / 'list.txt').write_text(
        'a/one.mp4 3\njunk.mp4 0\nmissing.mp4 1\nb/three.mp4 0\n')
    out = tmp_path / 'frames'
    summary = extract.run(str(videos), str(out),
                          ann_file=str(videos / 'list.txt'), num_frames=4,
                          short_side=0, progress=False)
    assert (summary['done'], summary['failed']) == (2, 2)
    report = dict(line.split('\t') for line in
                  (out / 'failures.txt').read_text().splitlines())
    assert 'decoder failed' in report[str(videos / 'junk.mp4')]
    assert report[str(videos / 'missing.mp4')] == 'file not found'
    assert (out / 'frames_list.txt').read_text().splitlines() == [
        'a/one 4 3', 'b/three 4 0']
    assert not (out / 'junk').exists()


def test_rerun_skips_finished_and_redoes_partial(videos, tmp_path,
                                                 monkeypatch):
    out = tmp_path / 'frames'
    args = dict(ann_file=str(videos / 'list.txt'), num_frames=6,
                short_side=0, progress=False)
    assert extract.run(str(videos), str(out), **args)['done'] == 3
    mtime = os.stat(out / 'a' / 'one' / 'img_00001.jpg').st_mtime_ns
    assert extract.run(str(videos), str(out), **args)['skipped'] == 3
    assert os.stat(out / 'a' / 'one' / 'img_00001.jpg').st_mtime_ns == mtime
    # damage: a frame missing in the middle, an interrupted run's leftover
    (out / 'a' / 'two' / 'img_00003.jpg').unlink()
    os.rename(out / 'b' / 'three', out / 'b' / 'three.tmp-12345')
    summary = extract.run(str(videos), str(out), **args)
    assert (summary['done'], summary['skipped']) == (2, 1)
    assert len(_names(out / 'a' / 'two')) == 6
    assert len(_names(out / 'b' / 'three')) == 6
    assert _names(out / 'b') == ['three']  # the leftover is gone

    # a crash in the middle of a video leaves no folder that counts as done
    calls = dict(n=0)
    real = cv2.imencode

    def failing(*a, **k):
        calls['n'] += 1
        if calls['n'] == 3:
            raise MemoryError('simulated crash')
        return real(*a, **k)

    monkeypatch.setattr(extraction.cv2, 'imencode', failing)
    (videos / 'c').mkdir()
    _grey_video(videos / 'c' / 'four.mp4', 30)
    (videos / 'list.txt').write_text('c/four.mp4 2\n')
    summary = extract.run(str(videos), str(out), **args)
    assert summary['failed'] == 1 and not (out / 'c' / 'four').exists()
    assert _names(out / 'c') == []  # the temp folder was removed
    assert 'MemoryError: simulated crash' in (out / 'failures.txt').read_text()
    monkeypatch.setattr(extraction.cv2, 'imencode', real)
    assert extract.run(str(videos), str(out), **args)['done'] == 1


@pytest.mark.slow  # spawns two workers that import the stack (~30 s)
def test_parallel_workers(videos, tmp_path):
    out = tmp_path / 'frames'
    summary = extract.run(str(videos), str(out),
                          ann_file=str(videos / 'list.txt'), num_frames=5,
                          workers=2, progress=False)
    assert summary['done'] == 3
    assert (out / 'frames_list.txt').read_text().splitlines() == [
        'a/one 5 3', 'a/two 5 1', 'b/three 5 0']


def test_grid_sampling_on_the_video_equals_the_extracted_frames(videos,
                                                                tmp_path):
    """num_grid=N on the video draws the same frames as sampling the N
    extracted frames, seed for seed (the reference's distribution)."""
    out = tmp_path / 'frames'
    extract.run(str(videos), str(out), ann_file=str(videos / 'list.txt'),
                num_frames=10, short_side=0, progress=False)
    init_default_scope('mmaction')
    folders = DATASETS.build(dict(
        type='SeCoRawframeDataset', ann_file=str(out / 'frames_list.txt'),
        data_prefix=dict(img=str(out)),
        pipeline=[dict(type='SeCoSampleIndices'),
                  dict(type='SeCoRawFrameDecode')]))
    video = str(videos / 'a' / 'one.mp4')
    grid = grid_indices(40, 10)
    for seed in range(10):
        np.random.seed(seed)
        from_frames = folders[0]
        np.random.seed(seed)
        r = dict(filename=video, start_index=0)
        for t in (SeCoDecordInit(), SeCoSampleIndices(num_grid=10),
                  SeCoDecordDecode()):
            r = t(r)
        assert r['seco_order'] == from_frames['seco_order']
        assert r['frame_inds'].tolist() == [
            int(grid[i - 1]) for i in from_frames['frame_inds']]
        for x, y in zip(r['imgs'], from_frames['imgs']):
            assert abs(x.mean() - y.mean()) <= 3


def test_grid_distribution():
    """a, b, c only on the grid; halves split at num_grid // 2 of the grid;
    every grid frame of each half reachable; s balanced."""
    rng_draws = 3000
    sampler = SeCoSampleIndices(num_grid=30)
    grid = grid_indices(301, 30)
    first, second = set(grid[:15].tolist()), set(grid[15:].tolist())
    np.random.seed(0)
    seen, orders = {0: set(), 1: set()}, []
    for _ in range(rng_draws):
        out = sampler(dict(total_frames=301))
        a, b, c = out['frame_inds'].tolist()
        s = out['seco_order']
        orders.append(s)
        assert b <= c
        query, keys = (first, second) if s == 0 else (second, first)
        assert a in query and {b, c} <= keys
        seen[s] |= {b, c}
    assert seen[0] == second and seen[1] == first
    assert abs(sum(orders) - rng_draws / 2) < 5 * (rng_draws ** 0.5) / 2
    with pytest.raises(ValueError, match='cannot be combined'):
        SeCoSampleIndices(num_grid=30, keyframe_aware=True)


def test_t30_config_trains_from_the_extracted_frames(videos, tmp_path):
    """configs/seco_r50_kinetics_t30.py builds its dataset on the output of
    the extraction tool and yields SeCo's 4 views."""
    from mmengine.config import Config
    out = tmp_path / 'frames'
    extract.run(str(videos), str(out), ann_file=str(videos / 'list.txt'),
                num_frames=30, short_side=64, progress=False)
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    cfg = Config.fromfile(osp.join(root, 'configs', 'seco_r50_kinetics_t30.py'))
    ds_cfg = cfg.train_dataloader.dataset
    assert ds_cfg.type == 'SeCoRawframeDataset'
    assert ds_cfg.ann_file.endswith('t30_s256/frames_list.txt')
    ds_cfg.ann_file = str(out / 'frames_list.txt')
    ds_cfg.data_prefix = dict(img=str(out))
    init_default_scope('mmaction')
    ds = DATASETS.build(ds_cfg)
    assert len(ds) == 3
    sample = ds[1]
    assert tuple(sample['inputs'].shape) == (4, 3, 224, 224)
    assert sample['data_samples'].seco_order in (0, 1)
