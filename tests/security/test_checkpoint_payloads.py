"""No checkpoint runs code: every read path, local and remote (issue 15, 1-3).

Two kinds of hostile file:

- a pickle payload: ``builtins.open(MARKER, 'w')`` as a pickled call, which
  an unsafe ``torch.load`` executes (creating MARKER);
- pure data naming code: ``meta['seco_backbone_cfg'] = dict(type=
  'logging.basicConfig', filename=MARKER, ...)``, which ``weights_only``
  accepts and which a registry ``build`` of that config runs (the probe
  did so before this check, creating MARKER).

Each path must raise an error naming the file, and MARKER must not exist.
Remote paths are served by a ``http.server`` on 127.0.0.1 started here.
"""
import functools
import http.server
import os
import os.path as osp
import subprocess
import sys
import threading

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel

from seco_mm.engine.checkpoint_io import CheckpointError
from seco_mm.engine.safe_load import UnsafeCheckpointError
from tests.conftest import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MAX_REQUESTS = 40


class Payload:
    """Unpickling this calls ``open(path, 'w')``: the file appears."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, 'w')


def pickle_payload(path, marker, wrap='seco'):
    """A checkpoint-shaped file whose unpickling creates ``marker``."""
    state = {'backbone.conv1.conv.weight': torch.zeros(1),
             'queue': torch.zeros(2, 2), 'evil': Payload(marker)}
    if wrap == 'moco':
        state = {'module.encoder_q.conv1.weight': Payload(marker)}
    torch.save({'state_dict': state, 'meta': {}}, str(path))
    return str(path)


def meta_payload(path, marker, depth=18, seco=True):
    """Plain data (weights_only accepts it) naming a callable to build."""
    from mmaction.models.backbones import ResNet
    net = ResNet(depth=depth, pretrained=None)
    state = {f'backbone.{k}': v for k, v in net.state_dict().items()}
    if seco:
        state['queue'] = torch.zeros(4, 8)
    # mmengine's registry resolves a dotted name; basicConfig(force=True)
    # opens (creates / truncates) ``filename`` before it rejects `pretrained`
    meta = dict(seco_backbone_cfg=dict(type='logging.basicConfig',
                                       filename=str(marker), filemode='w',
                                       force=True))
    torch.save({'state_dict': state, 'meta': meta}, str(path))
    return str(path)


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files; after MAX_REQUESTS answers 429 (a bounded server)."""
    served = None  # set per server: a one-element list, the request count

    def do_GET(self):
        self.served[0] += 1
        if self.served[0] > MAX_REQUESTS:
            self.send_error(429, 'request limit of the test server')
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path, monkeypatch):
    """Serve ``tmp_path/www`` at http://127.0.0.1:PORT; downloads are cached
    under ``tmp_path`` (TORCH_HOME)."""
    www = tmp_path / 'www'
    www.mkdir()
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    handler = type('Handler', (_Handler, ), dict(served=[0]))
    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(handler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever,
                              kwargs=dict(poll_interval=0.1), daemon=True)
    thread.start()
    yield www, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)
    assert handler.served[0] <= MAX_REQUESTS


class _Tiny(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, inputs=None, data_samples=None, mode='tensor'):
        return self.fc(inputs)


def _runner(work_dir, load_from, resume=False):
    from mmengine.runner import Runner
    return Runner(model=_Tiny(), work_dir=str(work_dir), load_from=load_from,
                  resume=resume, default_scope='mmaction',
                  log_level='ERROR')


# ---- pickle payloads: local and remote, every entry point -----------------
@pytest.mark.parametrize('remote', [False, True])
def test_runner_load_from_and_resume(tmp_path, http_root, remote):
    www, url = http_root
    marker = tmp_path / 'pwned'
    local = pickle_payload(www / 'evil.pth', marker)
    src = f'{url}/evil.pth' if remote else local
    for resume in (False, True):
        runner = _runner(tmp_path / f'work{resume}', src, resume=resume)
        with pytest.raises(UnsafeCheckpointError, match='io.open'
                           ) as err:
            runner.load_or_resume()
        assert 'evil.pth' in str(err.value)
        assert not marker.exists()


def test_remote_download_is_cached_per_url(tmp_path, http_root):
    from seco_mm.engine.safe_load import download_checkpoint, \
        load_checkpoint_file
    www, url = http_root
    torch.save({'state_dict': {'w': torch.arange(3.)}}, str(www / 'a.pth'))
    ckpt = load_checkpoint_file(f'{url}/a.pth')
    assert torch.equal(ckpt['state_dict']['w'], torch.arange(3.))
    path = download_checkpoint(f'{url}/a.pth')
    assert path.startswith(str(tmp_path / 'torch_home'))
    assert download_checkpoint(f'{url}/a.pth?v=2') != path  # own entry


@pytest.mark.slow  # runs tools/test.py (a Runner) end to end
def test_test_tool_with_remote_checkpoint(tmp_path, http_root, tiny_video_dir):
    www, url = http_root
    marker = tmp_path / 'pwned'
    pickle_payload(www / 'evil.pth', marker)
    ann = str(tiny_video_dir / 'train.txt')
    args = [osp.join(ROOT, 'configs', 'downstream', 'tsn_r18_linear_demo.py'),
            f'{url}/evil.pth', '--work-dir', str(tmp_path / 'w'),
            '--cfg-options', 'model.backbone.init_cfg=None',
            f'test_dataloader.dataset.ann_file={ann}',
            f'test_dataloader.dataset.data_prefix.video={tiny_video_dir}',
            'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False']
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        load_tool('test').main(args)
    assert not marker.exists()


def test_test_tool_checks_its_checkpoint_before_building(tmp_path):
    config = osp.join(ROOT, 'configs', 'downstream', 'tsn_r18_linear_demo.py')
    with pytest.raises(CheckpointError, match='nope.pth: file not found'):
        load_tool('test').main([config, str(tmp_path / 'nope.pth')])
    with pytest.raises(CheckpointError, match='unsupported URL scheme'):
        load_tool('test').main([config, 'ftp://example.invalid/a.pth'])


@pytest.mark.parametrize('remote', [False, True])
def test_init_cfg_pretrained_and_resnet_pretrained(tmp_path, http_root,
                                                   remote):
    from mmaction.models.backbones import ResNet
    www, url = http_root
    marker = tmp_path / 'pwned'
    local = pickle_payload(www / 'evil.pth', marker)
    src = f'{url}/evil.pth' if remote else local
    net = ResNet(depth=18, pretrained=None, init_cfg=dict(
        type='Pretrained', checkpoint=src, prefix='backbone.'))
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        net.init_weights()
    tv = ResNet(depth=18, pretrained=src, torchvision_pretrain=True)
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        tv.init_weights()
    assert not marker.exists()


@pytest.mark.parametrize('remote', [False, True])
def test_probe_export_tracking_moco_refuse(tmp_path, http_root, remote,
                                           capsys):
    from mmengine.config import Config

    from seco_mm.tracking.apis import build_tracker, set_backbone_checkpoint
    www, url = http_root
    marker = tmp_path / 'pwned'
    local = pickle_payload(www / 'evil.pth', marker)
    src = f'{url}/evil.pth' if remote else local
    lists = ['--train-list', 'x', '--val-list', 'x', '--data-prefix', 'x',
             '--work-dir', str(tmp_path / 'probe')]
    probe = load_tool('linear_probe')
    assert probe.main(['--checkpoint', src, *lists]) == 2
    assert probe.main(['--checkpoint', src, '--compare-random', *lists]) == 2
    export = load_tool('export_backbone')
    assert export.main([src, str(tmp_path / 'out.pth')]) == 2
    assert not osp.exists(tmp_path / 'out.pth')
    err = capsys.readouterr().err
    assert err.count('refused: it asks to load the global io.open') \
        == 3 and 'evil.pth' in err
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'tracking',
                                   'siamfc_r18_demo.py'))
    with pytest.raises(ValueError, match='evil.pth.*refused'):
        set_backbone_checkpoint(cfg, src)
    if not remote:  # --load-from (a trained SiamFC) is a local file
        set_backbone_checkpoint(cfg, None)
        with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
            build_tracker(cfg, load_from=local)
    moco = pickle_payload(www / 'moco.pth.tar', marker, wrap='moco')
    from seco_mm.models.utils.moco_init import load_moco_v2
    with pytest.raises(UnsafeCheckpointError, match='moco.pth.tar'):
        load_moco_v2(None, f'{url}/moco.pth.tar' if remote else moco)
    assert not marker.exists()


def test_unsupported_and_refused_schemes(tmp_path):
    from seco_mm.engine.safe_load import (check_checkpoint_source,
                                          load_checkpoint_file)
    for src in ('pavi://model/x.pth', 'mmcls://resnet50'):
        with pytest.raises(CheckpointError, match='refused: this scheme'):
            load_checkpoint_file(src)
        with pytest.raises(CheckpointError, match='refused'):
            check_checkpoint_source(src)
    with pytest.raises(CheckpointError, match='unsupported URL scheme'):
        load_checkpoint_file('ftp://example.invalid/a.pth')
    with pytest.raises(CheckpointError, match='unsupported URL scheme'):
        check_checkpoint_source('gopher://example.invalid/a.pth')
    with pytest.raises(CheckpointError, match="unknown model name 'nope'"):
        load_checkpoint_file('open-mmlab://nope')


@pytest.mark.slow  # a fresh interpreter importing mmengine
def test_mmengine_http_loader_unpickles_without_seco_mm(tmp_path, http_root):
    """The upstream defect is real: mmengine 0.10.7 alone runs the payload of
    a remote checkpoint (if this fails, upstream fixed it)."""
    www, url = http_root
    marker = tmp_path / 'pwned'
    pickle_payload(www / 'evil.pth', marker)
    code = ('import sys; from mmengine.runner import CheckpointLoader; '
            'CheckpointLoader.load_checkpoint(sys.argv[1])')
    subprocess.run([sys.executable, '-c', code, f'{url}/evil.pth'],
                   env=dict(os.environ, TORCH_HOME=str(tmp_path / 'th')),
                   capture_output=True, timeout=120)
    assert marker.exists()


def test_every_mmengine_scheme_uses_the_safe_loader():
    from mmengine.runner import CheckpointLoader
    schemes = CheckpointLoader._schemes  # mmengine's table (read-only here)
    assert len(schemes) >= 11
    for prefix, loader in schemes.items():
        assert loader.__name__.startswith('load_from_seco_'), prefix


# ---- data naming code: never built ------------------------------------------
def test_checkpoint_cannot_choose_what_is_built(tmp_path, capsys):
    from mmengine.config import Config

    from seco_mm.evaluation.feature_svm import build_probe_backbone
    from seco_mm.models.utils.checkpoint_format import SeCoCheckpointError
    from seco_mm.tracking.apis import set_backbone_checkpoint
    marker = tmp_path / 'pwned.log'
    seco = meta_payload(tmp_path / 'seco.pth', marker)
    export = meta_payload(tmp_path / 'export.pth', marker, seco=False)
    for path in (seco, export):
        with pytest.raises(SeCoCheckpointError,
                           match=r"meta\['seco_backbone_cfg'\] has keys "
                           r"\['filemode', 'filename', 'force'\]") as err:
            build_probe_backbone(path)
        assert path in str(err.value)
    lists = ['--train-list', 'x', '--val-list', 'x', '--data-prefix', 'x',
             '--work-dir', str(tmp_path / 'probe')]
    assert load_tool('linear_probe').main(
        ['--checkpoint', seco, '--compare-random', *lists]) == 2
    assert load_tool('export_backbone').main(
        [seco, str(tmp_path / 'out.pth')]) == 2
    assert "seco_backbone_cfg'] has keys" in capsys.readouterr().err
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'tracking',
                                   'siamfc_r18_demo.py'))
    with pytest.raises(ValueError, match='seco_backbone_cfg'):
        set_backbone_checkpoint(cfg, export)
    assert not marker.exists()
    # only the type is wrong: still refused, naming it
    torch.save({'state_dict': torch.load(export)['state_dict'],
                'meta': dict(seco_backbone_cfg=dict(
                    type='torch.hub.load', depth=18))},
               str(tmp_path / 'hub.pth'))
    with pytest.raises(SeCoCheckpointError, match="'torch.hub.load'"):
        build_probe_backbone(str(tmp_path / 'hub.pth'))


def test_meta_cfg_must_agree_with_the_weights(tmp_path):
    from seco_mm.evaluation.feature_svm import build_probe_backbone
    from seco_mm.models.utils.checkpoint_format import SeCoCheckpointError
    path = meta_payload(tmp_path / 'x.pth', tmp_path / 'm', seco=False)
    ckpt = torch.load(path)
    ckpt['meta'] = dict(seco_backbone_cfg=dict(type='ResNet', depth=50))
    torch.save(ckpt, path)
    with pytest.raises(SeCoCheckpointError, match=r"\['depth'\] is 50 but "
                       'the weights are a ResNet-18'):
        build_probe_backbone(path)
    ckpt['meta'] = dict(seco_backbone_cfg=dict(type='ResNet', depth=18))
    torch.save(ckpt, path)
    model, info = build_probe_backbone(path)
    assert info['cfg'] == dict(type='ResNet', depth=18)


# ---- TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 ------------------------------------
_UNDER_ENV = r'''
import os, sys
import seco_mm
from seco_mm.evaluation.feature_svm import build_probe_backbone
from seco_mm.models.utils.export import export_backbone
from seco_mm.tracking.apis import check_backbone_file
from tests.security.test_checkpoint_payloads import _runner
evil, work = sys.argv[1], sys.argv[2]
from tests.downstream.conftest import make_fake_seco_checkpoint
good = os.path.join(work, 'good.pth')
make_fake_seco_checkpoint(good)
info = export_backbone(good, os.path.join(work, 'good_export.pth'))
model, _ = build_probe_backbone(os.path.join(work, 'good_export.pth'))
print('good', info['num_tensors'], type(model).__name__)
checks = {
    'export': lambda: export_backbone(evil, os.path.join(work, 'o.pth')),
    'probe': lambda: build_probe_backbone(evil),
    'tracking': lambda: check_backbone_file(
        evil, dict(type='ResNet', depth=18)),
    'resume': lambda: _runner(os.path.join(work, 'r'), evil,
                              resume=True).load_or_resume(),
}
for name, fn in checks.items():
    try:
        fn()
        print(name, 'LOADED')
    except Exception as err:
        print(name, 'refused' if 'refused' in str(err) else
              type(err).__name__)
'''


@pytest.mark.slow  # four tools in a fresh interpreter (~40 s on 2 cores)
def test_force_no_weights_only_env_does_not_unlock_loading(tmp_path):
    marker = tmp_path / 'pwned'
    evil = pickle_payload(tmp_path / 'evil.pth', marker)
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD='1',
               PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, '-c', _UNDER_ENV, evil,
                          str(tmp_path),
                          ROOT], env=env, capture_output=True, text=True,
                         timeout=300)
    lines = dict(line.split(' ', 1) for line in out.stdout.splitlines()
                 if line.split(' ')[0] in ('export', 'probe', 'tracking',
                                           'resume'))
    assert lines == {k: 'refused' for k in ('export', 'probe', 'tracking',
                                            'resume')}, out.stdout + out.stderr
    assert 'good 120 ResNet' in out.stdout  # legit files still load
    assert not marker.exists()
    # the variable really unlocks torch's default: the test would catch a
    # loader that relied on it
    check = subprocess.run(
        [sys.executable, '-c', 'import sys, torch; torch.load(sys.argv[1])',
         evil], env=env, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and marker.exists(), check.stderr
