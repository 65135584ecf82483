"""SeCo's training step in bare PyTorch, as the yardstick of plugin overhead.

The same math as ``seco_mm.models.SeCo`` + ``OptimWrapper`` +
``SeCoMomentumHook`` on the same tensors, with none of mmengine: normalise
the uint8 views, query encoder on view 0, key encoder (no grad) on views
1..3, InfoNCE against the queue, intra-frame 2-way softmax, order
classifier, SGD step, parameter EMA, ring-buffer enqueue. Same accuracies
too (SeCo logs them), so the comparison isolates the framework.
"""
import copy
from typing import Dict, List

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['BareSeCo']

MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)


def _plain_copy(proj: nn.Sequential) -> nn.Sequential:
    """Rebuild a projector (Linear [BatchNorm1d] ReLU Linear) from torch.nn
    layers and load its weights."""
    layers = []
    for m in proj:
        if isinstance(m, nn.Linear):
            layers.append(nn.Linear(m.in_features, m.out_features,
                                    bias=m.bias is not None))
        elif isinstance(m, nn.BatchNorm1d):
            layers.append(nn.BatchNorm1d(m.num_features, eps=m.eps,
                                         momentum=m.momentum))
        elif isinstance(m, nn.ReLU):
            layers.append(nn.ReLU(inplace=True))
        else:
            raise TypeError(f'unexpected projector layer {m!r}')
    seq = nn.Sequential(*layers)
    seq.load_state_dict(proj.state_dict())
    return seq


class _Encoder(nn.Module):
    """Backbone + pooled MLP projections: (N, 3, H, W) -> name -> (N, D)."""

    def __init__(self, backbone: nn.Module, heads: Dict[str, nn.Sequential]):
        super().__init__()
        self.backbone = backbone
        self.heads = nn.ModuleDict(heads)

    def forward(self, x):
        feat = self.backbone(x).mean(dim=(2, 3))
        return {n: F.normalize(h(feat), dim=1) for n, h in self.heads.items()}


class BareSeCo:
    """A plain-PyTorch copy of a built ``SeCo`` model, trained by hand.

    Args:
        model: a built ``seco_mm`` SeCo model whose weights, key encoder,
            queue and hyper-parameters are copied (not shared).
        lr, momentum, weight_decay: SGD settings (the config's).
    """

    def __init__(self, model, lr=0.05, momentum=0.9, weight_decay=1e-4):
        heads = {name: _plain_copy(proj)
                 for name, proj in model.neck.projectors.items()}
        self.query = _Encoder(copy.deepcopy(model.backbone), heads)
        self.key = copy.deepcopy(self.query).requires_grad_(False)
        key_src = model.momentum_encoder.module  # Sequential(backbone, neck)
        self.key.backbone.load_state_dict(key_src[0].state_dict())
        for name, proj in key_src[1].projectors.items():
            self.key.heads[name].load_state_dict(proj.state_dict())
        fc = model.order_head.fc
        self.order_fc = nn.Linear(fc.in_features, fc.out_features)
        self.order_fc.load_state_dict(fc.state_dict())
        self.queue = model.queue.detach().clone()
        self.ptr = int(model.queue_ptr)
        self.t_inter = model.inter_head.temperature
        self.t_intra = model.intra_head.temperature
        self.key_forward = model.key_forward
        device = self.queue.device
        self.mean = torch.tensor(MEAN, device=device).view(1, 1, 3, 1, 1)
        self.std = torch.tensor(STD, device=device).view(1, 1, 3, 1, 1)
        self.params = (list(self.query.parameters()) +
                       list(self.order_fc.parameters()))
        self.optimizer = torch.optim.SGD(self.params, lr=lr,
                                         momentum=momentum,
                                         weight_decay=weight_decay)
        self.query.train()
        self.key.train()

    def to(self, device):
        for m in (self.query, self.key, self.order_fc):
            m.to(device)
        self.queue = self.queue.to(device)
        self.mean, self.std = self.mean.to(device), self.std.to(device)
        return self

    def prepare(self, batch) -> tuple:
        """pseudo-collated batch -> (x (B, 4, 3, H, W) float, order (B,))."""
        device = self.queue.device
        x = torch.stack(batch['inputs']).to(device).float()
        x = (x - self.mean) / self.std
        order = torch.tensor([int(s.seco_order) for s in batch['data_samples']],
                             dtype=torch.long, device=device)
        return x, order

    def losses(self, x, order) -> Dict[str, torch.Tensor]:
        batch = x.shape[0]
        q = self.query(x[:, 0])
        keys = x[:, 1:].transpose(0, 1)  # (3, B, 3, H, W)
        with torch.no_grad():
            groups = ([keys.flatten(0, 1)] if self.key_forward == 'batched'
                      else list(keys.unbind(0)))
            outs = [self.key(g) for g in groups]
            k = {n: torch.cat([o[n] for o in outs]).view(3, batch, -1)
                 for n in outs[0]}
        # inter: [q.k_v | q.queue] / T, positive first, for v in 3 views
        pos = torch.einsum('bd,vbd->vb', q['inter'], k['inter']) / self.t_inter
        neg = q['inter'] @ self.queue.clone().t() / self.t_inter
        neg_lse = torch.logsumexp(neg, dim=1)
        loss_inter = F.softplus(neg_lse.unsqueeze(0) - pos).mean()
        # intra: [q.k_same, q.k_x] / T for x in (b, c)
        pos_i = (q['intra'] * k['intra'][0]).sum(1) / self.t_intra
        neg_i = torch.einsum('bd,vbd->vb', q['intra'],
                             k['intra'][1:]) / self.t_intra
        margin = neg_i - pos_i.unsqueeze(0)
        loss_intra = F.softplus(margin).mean()
        # order: [q, k_b, k_c] -> 2 logits
        logits = self.order_fc(torch.cat([q['order'], k['order'][1],
                                          k['order'][2]], dim=1))
        loss_order = F.cross_entropy(logits, order)
        with torch.no_grad():
            acc_inter = (pos > neg.max(1).values.unsqueeze(0)).float().mean()
            acc_intra = (margin < 0).float().mean()
            acc_order = (logits.argmax(1) == order).float().mean()
        self._new_keys = k['inter'].flatten(0, 1)
        return dict(loss_inter=loss_inter, loss_intra=loss_intra,
                    loss_order=loss_order, acc_inter=acc_inter * 100,
                    acc_intra=acc_intra * 100, acc_order=acc_order * 100)

    @torch.no_grad()
    def _ema_and_enqueue(self, ema_momentum):
        key_params = list(self.key.parameters())
        src = [p.detach() for p in self.query.parameters()]
        torch._foreach_lerp_(key_params, src, 1.0 - ema_momentum)
        keys = self._new_keys
        n = self.queue.shape[0]
        idx = (self.ptr + torch.arange(keys.shape[0],
                                       device=keys.device)) % n
        self.queue[idx] = keys.to(self.queue.dtype)
        self.ptr = (self.ptr + keys.shape[0]) % n

    def step(self, batch, ema_momentum=0.99, autocast_dtype=None) -> dict:
        """One training iteration on a pseudo-collated batch."""
        x, order = self.prepare(batch)
        device_type = x.device.type
        if autocast_dtype is None:
            out = self.losses(x, order)
        else:
            with torch.autocast(device_type, dtype=autocast_dtype):
                out = self.losses(x, order)
        loss = out['loss_inter'] + out['loss_intra'] + out['loss_order']
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self._ema_and_enqueue(ema_momentum)
        return out

    def parameters(self) -> List[torch.Tensor]:
        return self.params
