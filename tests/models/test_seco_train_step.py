"""SeCo.train_step: no queue copy, enqueue after the step, momentum check;
state-dict loading: queue shape refused, exported backbone fills both."""
import copy

import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

from tests.conftest import tiny_seco_model_cfg


def _model(**kwargs):
    init_default_scope('mmaction')
    torch.manual_seed(0)
    m = MODELS.build(tiny_seco_model_cfg(**kwargs))
    m.init_weights()
    return m.train()


def _sample(order):
    s = ActionDataSample()
    s.set_field(order, 'seco_order')
    return s


def _batch(B=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(
        inputs=[torch.randint(0, 256, (4, 3, size, size), generator=g,
                              dtype=torch.uint8) for _ in range(B)],
        data_samples=[_sample(i % 2) for i in range(B)])


def _optim(model):
    return OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1,
                                        momentum=0.9))


def test_train_step_reads_the_queue_without_copying_it(monkeypatch):
    model = _model(queue_len=32)
    seen = []
    inner = model.inter_head.loss
    monkeypatch.setattr(model.inter_head, 'loss',
                        lambda q, k, queue: seen.append(queue) or inner(
                            q, k, queue))
    clones = []
    orig_clone = torch.Tensor.clone

    def counting_clone(t, *a, **kw):
        if t.data_ptr() == model.queue.data_ptr():
            clones.append(t.shape)
        return orig_clone(t, *a, **kw)

    monkeypatch.setattr(torch.Tensor, 'clone', counting_clone)
    ptr = model.queue.data_ptr()
    model.train_step(_batch(), _optim(model))
    assert seen[0] is model.queue and model.queue.data_ptr() == ptr
    assert clones == []
    assert int(model.queue_ptr) == 3 * 4  # enqueued after the step


def test_deferred_enqueue_gives_the_old_step_exactly():
    """Old behaviour (loss on a queue copy, enqueue inside the loss, then
    backward and step) == train_step (no copy, enqueue after the step)."""
    new = _model(queue_len=16)
    old = copy.deepcopy(new)
    opt_new, opt_old = _optim(new), _optim(old)
    for step in range(3):
        batch = _batch(seed=step)
        torch.manual_seed(step)
        log_new = new.train_step(batch, opt_new)
        new.momentum_update(0.9)
        torch.manual_seed(step)
        data = old.data_preprocessor(batch, True)
        losses = old(**data, mode='loss')  # copies the queue, enqueues
        total, log_old = old.parse_losses(losses)
        opt_old.update_params(total)
        old.momentum_update(0.9)
        for k in ('loss_inter', 'loss_intra', 'loss_order'):
            torch.testing.assert_close(log_new[k], log_old[k])
    torch.testing.assert_close(new.queue, old.queue)
    assert int(new.queue_ptr) == int(old.queue_ptr) == (3 * 3 * 4) % 16
    for (name, a), b in zip(new.state_dict().items(),
                            old.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)


def test_non_finite_loss_leaves_the_queue_untouched():
    model = _model(queue_len=16)
    before = model.queue.clone()
    optim = _optim(model)
    with torch.no_grad():
        model.backbone.conv1.conv.weight.fill_(float('nan'))
    model.train_step(_batch(), optim)
    assert torch.equal(model.queue, before) and int(model.queue_ptr) == 0


def test_training_without_momentum_update_names_the_hook():
    model = _model(queue_len=16)
    optim = _optim(model)
    model.train_step(_batch(), optim)
    model.momentum_update(0.99)
    model.train_step(_batch(), optim)  # updated in between: fine
    with pytest.raises(RuntimeError, match='SeCoMomentumHook'):
        model.train_step(_batch(), optim)  # no update since the last step


def test_resuming_with_another_queue_size_is_refused():
    saved = _model(queue_len=12).state_dict()
    other = _model(queue_len=10)
    with pytest.raises(ValueError, match=r'queue_len=12.*queue_len=10'):
        other.load_state_dict(saved)
    with pytest.raises(ValueError, match='queue_len=12'):
        other.load_state_dict(saved, strict=False)


def test_loading_an_exported_backbone_fills_both_encoders(tmp_path):
    donor = _model(queue_len=8)
    with torch.no_grad():
        for p in donor.backbone.parameters():
            p.add_(1.0)
    state = {f'backbone.{k}': v.clone()
             for k, v in donor.backbone.state_dict().items()}
    path = tmp_path / 'exported.pth'
    torch.save({'state_dict': state}, path)
    model = _model(queue_len=8)
    load_checkpoint(model, str(path), map_location='cpu', strict=False)
    for k, v in donor.backbone.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[k], v), k
        assert torch.equal(
            model.momentum_encoder.module[0].state_dict()[k], v), k
    # a full checkpoint keeps its own key encoder
    full = donor.state_dict()
    model.load_state_dict(full)
    k_name = 'momentum_encoder.module.0.conv1.conv.weight'
    assert torch.equal(model.state_dict()[k_name], full[k_name])
    assert not torch.equal(full[k_name], full['backbone.conv1.conv.weight'])
