"""Private mmengine code is used in one module, and pinned there.

These tests fail, naming the function, when an mmengine upgrade changes
what seco_mm/engine/mmengine_internals.py relies on or copied.
"""
import os
import os.path as osp
import re

import mmengine
import pytest
import torch
from mmengine.optim import OptimWrapper

from seco_mm.engine import mmengine_internals as internals
from seco_mm.engine.hooks import SeCoNonFiniteLossHook

PACKAGE = osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    internals.__file__))))


def test_mmengine_version_is_the_pinned_one():
    assert mmengine.__version__ == internals.MMENGINE_VERSION, (
        'mmengine was upgraded: re-check seco_mm/engine/mmengine_internals.py '
        'and the tests in this file, then update MMENGINE_VERSION')


@pytest.mark.parametrize('target', sorted(internals.PRIVATE_READS))
def test_private_attributes_still_set_and_read_upstream(target):
    source = internals.upstream_source(target)
    for line in internals.PRIVATE_READS[target]:
        assert line in source, (
            f'{target} no longer contains {line!r}: resume_request() in '
            'seco_mm/engine/mmengine_internals.py must be adapted')


@pytest.mark.parametrize('target', sorted(internals.COPIED_SOURCES))
def test_copied_upstream_function_unchanged(target):
    digest = internals.source_hash(internals.upstream_source(target))
    assert digest == internals.COPIED_SOURCES[target], (
        f'{target} changed upstream (hash {digest}): compare it with the '
        'copy in SeCoCheckpointHook._save_checkpoint_with_step, adapt the '
        'copy, then update COPIED_SOURCES')


def test_resume_request_reads_the_runner_arguments():
    class FakeRunner:  # what Runner.__init__ sets (checked above)
        _resume, _load_from = True, 'a.pth'

    assert internals.resume_request(FakeRunner()) == (True, 'a.pth')
    assert internals.resume_request(object()) == (False, None)


def test_no_other_module_touches_private_mmengine_attributes():
    pattern = re.compile(r'runner\._(resume|load_from)\b|'
                         r"'_(resume|load_from)'|_inner_count")
    offenders = []
    for folder, _, files in os.walk(osp.join(PACKAGE, 'seco_mm')):
        for name in files:
            path = osp.join(folder, name)
            if not name.endswith('.py') or path == internals.__file__:
                continue
            with open(path) as f:
                for lineno, line in enumerate(f, start=1):
                    if pattern.search(line):
                        offenders.append(f'{path}:{lineno}: {line.strip()}')
    assert not offenders, '\n'.join(offenders)


def test_skipped_step_keeps_the_accumulation_phase_through_public_api():
    """A skipped non-finite step is counted by the wrapper (its public
    ``backward`` on a zero leaf) without touching the weights, so with
    accumulative_counts=2 the next real step still updates on schedule."""
    model = torch.nn.Linear(2, 1)
    ow = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1),
                      accumulative_counts=2)
    ow.initialize_count_status(model, 0, 4)
    hook = SeCoNonFiniteLossHook(action='skip')
    hook._optim_wrapper, hook._model = ow, model
    hook._update_params = ow.update_params
    before = model.weight.detach().clone()

    hook._skip_pending = True  # iteration 1: non-finite, skipped
    hook._guarded_update_params(torch.tensor(float('nan')))
    assert torch.equal(model.weight, before)
    assert model.weight.grad is None or not model.weight.grad.any()
    # iteration 2 closes the accumulation window of 2: the step happens
    loss = model(torch.ones(1, 2)).sum()
    hook._guarded_update_params(loss)
    assert not torch.equal(model.weight, before)
    assert ow.should_update()  # count 2: a multiple of accumulative_counts
