"""Smoke test of the sources-and-storage rows of benchmarks/bench_data.py
(no timing assertions: it runs every path and reports extraction cost)."""
import argparse
import importlib.util
import os.path as osp

import numpy as np

from tests.conftest import moving_square_frames, write_video

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _bench_data():
    spec = importlib.util.spec_from_file_location(
        'seco_bench_data', osp.join(ROOT, 'benchmarks', 'bench_data.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # puts benchmarks/ on sys.path itself
    return module


def test_bench_paths_runs_every_source_and_storage(tmp_path, monkeypatch):
    bench = _bench_data()
    import common
    monkeypatch.setattr(common, 'DEFAULT_OUT_DIR', str(tmp_path / 'bench'))
    clip = str(tmp_path / 'clip.mp4')
    write_video(clip, moving_square_frames(1, num_frames=48, size=64))
    args = argparse.Namespace(crop=32, seed=0, path_rounds=1,
                              extract_rounds=1)
    res = bench.bench_paths('clip', clip, args)
    expected = {f'{src}/{where}' for src in bench.PATH_SOURCES
                for where in ('local', 'http')} | {'one_step/local'}
    assert set(res['variants']) == expected
    for v in res['variants'].values():
        assert v['cpu']['median'] > 0 and np.isfinite(v['wall']['median'])
    ex = res['extraction']
    assert ex['frames'] == 30 and ex['bytes_per_video'] > 30 * 100
    assert ex['videos_per_s_per_core'] > 0
    table = bench.summarise_paths(res)
    assert 'frames_t30/http' in table and 'videos/s/core' in table
