"""Online k-NN monitor: representation quality while pretraining runs.

Every ``interval`` epochs the hook embeds a small labelled video set with the
current *query* backbone and logs

* ``knn/top1``: weighted k-NN classification of the val clips against the
  train clips (Wu et al., CVPR 2018 "InstDisc": cosine similarity, the ``k``
  nearest train clips vote for their label with weight ``exp(sim / T)``);
* ``knn/R@1``, ``knn/R@5``: clip-to-clip retrieval, the fraction of val
  clips with a train clip of the same label among their ``k`` most similar;

all in percent, through mmengine's visualizer (``scalars.json``, TensorBoard
with ``TensorboardVisBackend``), the message hub and the log. A clip's
feature is the global-average-pooled backbone output of each sampled frame,
averaged over the frames and L2-normalised.

Training is not disturbed: features are computed in eval mode (BatchNorm
reads its running statistics and does not update them) without gradients,
then every module's train/eval flag and the Python, NumPy and torch (CPU and
CUDA) random states are restored, so the run with the hook follows the same
trajectory as the run without it. Under DDP each rank embeds its share of
the clips, the features are gathered with ``mmengine.dist.all_gather`` and
the metrics are computed once, on the main process.
"""
import random
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dataset import pseudo_collate
from mmengine.dist import all_gather, get_dist_info, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import DefaultScope

from mmaction.registry import DATASETS, HOOKS

__all__ = ['KNNMonitorHook', 'knn_classify', 'retrieval_recall',
           'shard_indices', 'unshard']


def knn_classify(query: torch.Tensor, bank: torch.Tensor,
                 bank_labels: torch.Tensor, num_classes: int, k: int = 20,
                 temperature: float = 0.07) -> torch.Tensor:
    """Weighted k-NN labels (InstDisc's vote).

    Args:
        query: (Q, C) L2-normalised features. bank: (N, C) L2-normalised.
        bank_labels: (N,) int labels of the bank.
        num_classes: number of labels.
        k: neighbours (clipped to N). temperature: ``T`` of ``exp(sim / T)``.

    Returns:
        torch.Tensor: (Q,) predicted labels (ties: the smaller label).
    """
    sim = query @ bank.t()  # (Q, N) cosine similarities
    top_sim, top_idx = sim.topk(min(k, bank.size(0)), dim=1)
    weights = (top_sim / temperature).exp()
    votes = torch.zeros(query.size(0), num_classes, dtype=weights.dtype)
    votes.scatter_add_(1, bank_labels[top_idx], weights)
    return votes.argmax(dim=1)


def retrieval_recall(query: torch.Tensor, bank: torch.Tensor,
                     query_labels: torch.Tensor, bank_labels: torch.Tensor,
                     ks: Sequence[int] = (1, 5)) -> Dict[int, float]:
    """Recall@k of clip-to-clip retrieval (cosine similarity).

    Returns:
        dict: ``{k: fraction of queries with a same-label bank item among
        their k most similar}``.
    """
    order = (query @ bank.t()).topk(min(max(ks), bank.size(0)), dim=1)[1]
    hits = bank_labels[order] == query_labels[:, None]  # (Q, K)
    return {k: float(hits[:, :k].any(dim=1).float().mean()) for k in ks}


def shard_indices(num: int, rank: int, world_size: int) -> List[int]:
    """Indices ``rank, rank + W, ...`` of ``num`` items, padded (with the
    shard's last index, or 0) to ``ceil(num / W)`` so every rank gathers
    tensors of the same length."""
    per_rank = -(-num // world_size)
    idx = list(range(rank, num, world_size))
    pad = idx[-1] if idx else 0
    return idx + [pad] * (per_rank - len(idx))


def unshard(gathered: Sequence[torch.Tensor], num: int) -> torch.Tensor:
    """Inverse of :func:`shard_indices`: per-rank (ceil(num / W), ...)
    tensors -> (num, ...) in dataset order (padding dropped)."""
    stacked = torch.stack(list(gathered), dim=1)  # (per_rank, W, ...)
    return stacked.flatten(0, 1)[:num]


@HOOKS.register_module()
class KNNMonitorHook(Hook):
    """Log k-NN top-1 and retrieval R@k of the query backbone during training.

    Args:
        train_dataset (dict): labelled clips that form the k-NN bank, an
            mmaction2 dataset config (e.g. ``VideoDataset`` with a test
            pipeline: ``SampleFrames(clip_len=1, num_clips=T,
            test_mode=True)``, decode, resize, centre crop,
            ``FormatShape('NCHW')``, ``PackActionInputs``).
        val_dataset (dict): labelled query clips, same kind of config.
        interval (int): run every ``interval`` epochs. Defaults to 1.
        k (int): neighbours of the vote. Defaults to 20 (InstDisc used 200
            on ImageNet; a small bank needs fewer).
        temperature (float): ``T`` of the vote weights. Defaults to 0.07.
        recall_ks (Sequence[int]): retrieval cut-offs. Defaults to (1, 5).
        batch_size (int): clips per forward pass. Defaults to 8.
        num_workers (int): dataloader workers. Defaults to 0.
        at_start (bool): also run before the first epoch (the curve then
            starts at the initial backbone). Defaults to True.
        cache_inputs (bool): keep the decoded, packed clips in memory after
            the first pass (they do not change between passes; only the
            backbone does). Defaults to True.
        backbone (str): attribute of the model holding the query backbone.
            Defaults to ``'backbone'`` (SeCo's query backbone).
    """
    priority = 'LOW'  # after the optimizer step and momentum update

    def __init__(self,
                 train_dataset: dict,
                 val_dataset: dict,
                 interval: int = 1,
                 k: int = 20,
                 temperature: float = 0.07,
                 recall_ks: Sequence[int] = (1, 5),
                 batch_size: int = 8,
                 num_workers: int = 0,
                 at_start: bool = True,
                 cache_inputs: bool = True,
                 backbone: str = 'backbone'):
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'KNNMonitorHook.interval must be an int >= 1, '
                             f'got {interval!r}')
        if not isinstance(k, int) or k < 1:
            raise ValueError(f'KNNMonitorHook.k must be an int >= 1, got '
                             f'{k!r}')
        if not temperature > 0:
            raise ValueError(f'KNNMonitorHook.temperature must be > 0, got '
                             f'{temperature!r}')
        if not recall_ks or min(recall_ks) < 1:
            raise ValueError(f'KNNMonitorHook.recall_ks must be positive '
                             f'ints, got {recall_ks!r}')
        self.dataset_cfgs = dict(train=train_dataset, val=val_dataset)
        self.interval = interval
        self.k = k
        self.temperature = float(temperature)
        self.recall_ks = tuple(int(x) for x in recall_ks)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.at_start = at_start
        self.cache_inputs = cache_inputs
        self.backbone_attr = backbone
        self._datasets: Dict[str, object] = {}
        self._cache: Dict[str, List[dict]] = {}
        self.history: List[dict] = []

    # ----------------------------------------------------------- triggers
    def before_train(self, runner) -> None:
        self._build_datasets()
        if self.at_start and runner.epoch == 0:
            self.evaluate(runner, epoch=0)

    def after_train_epoch(self, runner) -> None:
        if self.every_n_epochs(runner, self.interval) or \
                self.is_last_train_epoch(runner):
            self.evaluate(runner, epoch=runner.epoch + 1)

    # -------------------------------------------------------------- data
    def _build_datasets(self) -> None:
        if self._datasets:
            return
        with DefaultScope.overwrite_default_scope('mmaction'):
            for split, cfg in self.dataset_cfgs.items():
                ds = DATASETS.build(cfg) if isinstance(cfg, dict) else cfg
                if len(ds) == 0:
                    raise ValueError(f'KNNMonitorHook: the {split} dataset '
                                     f'is empty ({cfg})')
                self._datasets[split] = ds

    def _batches(self, split: str, indices: List[int]):
        """Packed batches (``pseudo_collate``) of ``indices``, cached."""
        if split in self._cache:
            yield from self._cache[split]
            return
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(self._datasets[split], indices),
            batch_size=self.batch_size, shuffle=False,
            num_workers=self.num_workers, collate_fn=pseudo_collate,
            generator=torch.Generator().manual_seed(0))
        kept = []
        for batch in loader:
            if self.cache_inputs:
                kept.append(batch)
            yield batch
        if self.cache_inputs:
            self._cache[split] = kept

    @torch.no_grad()
    def _embed(self, model, backbone, split: str
               ) -> Tuple[torch.Tensor, torch.Tensor]:
        """(N, C) L2-normalised clip features and (N,) labels of a split,
        in dataset order, gathered over ranks."""
        rank, world = get_dist_info()
        num = len(self._datasets[split])
        indices = shard_indices(num, rank, world)
        feats, labels = [], []
        for batch in self._batches(split, indices):
            data = model.data_preprocessor(batch, False)
            frames = data['inputs']  # (B, T, C, H, W)
            b, t = frames.shape[:2]
            out = backbone(frames.flatten(0, 1))
            if isinstance(out, (tuple, list)):
                out = out[-1]
            pooled = out.float().mean(dim=(2, 3)).view(b, t, -1).mean(1)
            feats.append(F.normalize(pooled, dim=1))
            labels.append(torch.stack([
                s.gt_label.reshape(-1)[0] for s in data['data_samples']
            ]).to(pooled.device))
        feats = unshard(all_gather(torch.cat(feats)), num)
        labels = unshard(all_gather(torch.cat(labels)), num)
        return feats.cpu(), labels.cpu().long()

    # ------------------------------------------------------------ metrics
    def compute(self, train_x, train_y, val_x, val_y) -> Dict[str, float]:
        """Scalars (percent) from gathered features (see module docstring)."""
        num_classes = int(max(train_y.max(), val_y.max())) + 1
        pred = knn_classify(val_x, train_x, train_y, num_classes, self.k,
                            self.temperature)
        out = {'knn/top1': 100.0 * float((pred == val_y).float().mean())}
        recall = retrieval_recall(val_x, train_x, val_y, train_y,
                                  self.recall_ks)
        out.update({f'knn/R@{k}': 100.0 * v for k, v in recall.items()})
        return out

    def evaluate(self, runner, epoch: int) -> Optional[Dict[str, float]]:
        """Embed both splits and log the scalars after ``epoch`` completed
        epochs; the training state is restored. Returns the scalars on the
        main process, ``None`` elsewhere."""
        self._build_datasets()
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        backbone = getattr(model, self.backbone_attr)
        modes = {name: m.training for name, m in model.named_modules()}
        rng = _get_rng_state()
        start = time.perf_counter()
        try:
            backbone.eval()
            train_x, train_y = self._embed(model, backbone, 'train')
            val_x, val_y = self._embed(model, backbone, 'val')
        finally:
            for name, m in model.named_modules():
                m.training = modes[name]
            _set_rng_state(rng)
        if not is_main_process():
            return None
        scalars = self.compute(train_x, train_y, val_x, val_y)
        seconds = time.perf_counter() - start
        scalars['knn/seconds'] = seconds
        scalars['knn/epoch'] = epoch
        for key, value in scalars.items():
            runner.message_hub.update_scalar(key, value)
        runner.visualizer.add_scalars(scalars, step=runner.iter)
        recall_txt = ', '.join(f'R@{k} {scalars[f"knn/R@{k}"]:.1f}'
                               for k in self.recall_ks)
        runner.logger.info(
            f"k-NN monitor after epoch {epoch}: top-1 "
            f"{scalars['knn/top1']:.1f} % (k={self.k}, T={self.temperature}), "
            f'{recall_txt} ({len(train_y)} train / {len(val_y)} val clips, '
            f'{seconds:.1f} s)')
        self.history.append(dict(step=runner.iter, **scalars))
        return scalars


def _get_rng_state() -> dict:
    state = dict(python=random.getstate(), numpy=np.random.get_state(),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state:
        torch.cuda.set_rng_state_all(state['cuda'])
