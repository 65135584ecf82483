"""Training videos and extracted frames read over HTTP (mmengine fileio)."""
import cv2
import numpy as np
import pytest
import seco_mm  # noqa: F401
from mmaction.registry import DATASETS
from mmengine.registry import init_default_scope

from seco_mm.datasets.transforms import (SeCoDecordDecode, SeCoDecordInit,
                                         SeCoRawFrameDecode, SeCoSampleFrames,
                                         SeCoSampleIndices, VideoReadError)
from tests.conftest import moving_square_frames, write_video

SPLIT_VIDEO = [dict(type='SeCoDecordInit'), dict(type='SeCoSampleIndices'),
               dict(type='SeCoDecordDecode')]
SPLIT_FRAMES = [dict(type='SeCoSampleIndices'),
                dict(type='SeCoRawFrameDecode')]
PACK = [dict(type='PackActionInputs', algorithm_keys=('seco_order', ))]


def _videos(root, n=3):
    lines = []
    for i in range(n):
        rel = f'v/clip{i}.mp4'
        write_video(str(root / rel), moving_square_frames(i, num_frames=20))
        lines.append(f'{rel} {i}')
    return lines


def _frames(root, n=2, count=12):
    lines = []
    for v in range(n):
        folder = root / 'f' / f'clip{v}'
        folder.mkdir(parents=True)
        for i in range(1, count + 1):
            img = np.full((16, 20, 3), (10 * i + 50 * v) % 250, np.uint8)
            cv2.imwrite(str(folder / f'img_{i:05d}.jpg'), img)
        lines.append(f'f/clip{v} {count} {v}')
    return lines


def _build(cfg):
    init_default_scope('mmaction')
    return DATASETS.build(cfg)


def test_videos_over_http_match_local_reads(http_server, tmp_path):
    lines = _videos(http_server.root)
    ann = tmp_path / 'list.txt'
    ann.write_text('\n'.join(lines) + '\n')
    local = _build(dict(type='SeCoVideoDataset', ann_file=str(ann),
                        data_prefix=dict(video=str(http_server.root)),
                        pipeline=SPLIT_VIDEO))
    remote = _build(dict(type='SeCoVideoDataset', ann_file=str(ann),
                         data_prefix=dict(video=http_server.url()),
                         pipeline=SPLIT_VIDEO))
    for idx in range(len(lines)):
        np.random.seed(idx)
        a = local[idx]
        np.random.seed(idx)
        b = remote[idx]
        assert b['filename'].startswith('http://127.0.0.1:')
        np.testing.assert_array_equal(a['frame_inds'], b['frame_inds'])
        for x, y in zip(a['imgs'], b['imgs']):
            np.testing.assert_array_equal(x, y)
    # the one-step form and keyframe-aware sampling read URLs too
    url = http_server.url(lines[0].split()[0])
    out = SeCoSampleFrames(keyframe_aware=True)(dict(filename=url))
    assert len(out['imgs']) == 3 and out['total_frames'] == 20


def test_extracted_frames_over_http(http_server, tmp_path):
    lines = _frames(http_server.root)
    ann = tmp_path / 'frames.txt'
    ann.write_text('\n'.join(lines) + '\n')
    ds = _build(dict(type='SeCoRawframeDataset', ann_file=str(ann),
                     data_prefix=dict(img=http_server.url()),
                     pipeline=SPLIT_FRAMES))
    for idx in range(2):
        out = ds[idx]
        assert out['frame_dir'] == http_server.url(f'f/clip{idx}')
        for ind, img in zip(out['frame_inds'], out['imgs']):  # 1-based
            assert img.shape == (16, 20, 3)
            assert abs(img.mean() - (10 * ind + 50 * idx) % 250) <= 2


def test_http_404_names_the_url_and_is_skipped(http_server, tmp_path):
    lines = _videos(http_server.root, n=2)
    missing = http_server.url('v/gone.mp4')
    with pytest.raises(VideoReadError) as info:
        SeCoDecordInit().transform(dict(filename=missing))
    assert info.value.path == missing
    assert 'HTTP 404' in info.value.reason and missing in str(info.value)
    # in training: skipped, and the URL travels with the replacement sample
    ann = tmp_path / 'list.txt'
    ann.write_text('v/gone.mp4 0\n' + '\n'.join(lines) + '\n')
    ds = _build(dict(type='SeCoVideoDataset', ann_file=str(ann),
                     data_prefix=dict(video=http_server.url()),
                     pipeline=SPLIT_VIDEO + PACK))
    sample = ds[0]
    bad = sample['data_samples'].metainfo['bad_videos']
    # (the random refetch may draw the missing video again: one entry each)
    assert set(bad) == {(missing, 'file not found, HTTP 404 File not found')}
    # a missing frame image names its URL as well
    frame_url = http_server.url('f/none')
    with pytest.raises(VideoReadError, match='img_00002.jpg.*HTTP 404'):
        SeCoRawFrameDecode().transform(dict(
            frame_dir=frame_url, frame_inds=np.array([2]),
            filename_tmpl='img_{:05}.jpg'))


def test_stopped_server_gives_a_clear_error_naming_the_url(http_server,
                                                          tmp_path):
    lines = _videos(http_server.root, n=2)
    ann = tmp_path / 'list.txt'
    ann.write_text('\n'.join(lines) + '\n')
    ds = _build(dict(type='SeCoVideoDataset', ann_file=str(ann),
                     data_prefix=dict(video=http_server.url()),
                     pipeline=SPLIT_VIDEO + PACK, max_refetch=3))
    assert ds[0]['inputs'].shape[0] == 3  # works while the server runs
    http_server.stop()
    url = http_server.url(lines[1].split()[0])
    with pytest.raises(VideoReadError, match='cannot reach the server') as e:
        SeCoDecordInit().transform(dict(filename=url))
    assert e.value.path == url
    with pytest.raises(RuntimeError, match=r'4 videos in a row could not be '
                       r'read .*last: http://127\.0\.0\.1:\d+/v/clip\d\.mp4: '
                       r'cannot reach the server'):
        ds[1]


def test_io_backend_and_backend_args_are_passed_to_mmengine(http_server):
    _videos(http_server.root, n=1)
    url = http_server.url('v/clip0.mp4')
    for opener in (SeCoDecordInit(io_backend='http'),
                   SeCoDecordInit(backend_args=dict(backend='http'))):
        assert opener.backend_args == dict(backend='http')
        out = opener.transform(dict(filename=url))
        assert out['total_frames'] == 20
    # a backend that cannot read the path fails with its name and the path
    with pytest.raises(VideoReadError, match='clip0.mp4'):
        SeCoDecordInit(backend_args=dict(backend='local')).transform(
            dict(filename=url))


def test_split_pipeline_equals_one_step_form(tiny_video_dir):
    path = str(tiny_video_dir / 'class0' / 'vid0.mp4')
    for seed in range(4):
        np.random.seed(seed)
        one = SeCoSampleFrames()(dict(filename=path))
        np.random.seed(seed)
        r = dict(filename=path, start_index=0)
        for t in (SeCoDecordInit(), SeCoSampleIndices(), SeCoDecordDecode()):
            r = t(r)
        np.testing.assert_array_equal(one['frame_inds'], r['frame_inds'])
        assert one['seco_order'] == r['seco_order']
        for x, y in zip(one['imgs'], r['imgs']):
            np.testing.assert_array_equal(x, y)
        assert 'video_reader' not in r
