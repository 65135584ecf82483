"""benchmarks/common.write_json stores numpy values as plain JSON."""
import json

import numpy as np

import common  # benchmarks/ is on pytest's pythonpath (pytest.ini)


def test_write_json_converts_numpy_arrays_and_scalars(tmp_path):
    path = tmp_path / 'sub' / 'r.json'
    res = dict(curve=np.arange(3), mean=np.float32(1.5),
               n=np.int64(7), ok=np.bool_(True), plain=[1, 'a'])
    assert common.write_json(res, str(path)) == str(path)
    back = json.loads(path.read_text())
    assert back['curve'] == [0, 1, 2] and back['mean'] == 1.5
    assert back['n'] == 7 and back['ok'] is True and back['plain'] == [1, 'a']
    assert len(back['env']['loadavg_end']) == 3 and back['argv']
