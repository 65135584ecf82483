"""seco_mm.utils.logging: what is silenced on the console, and that the log
file keeps it."""
import logging
import warnings

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.model import BaseModule

from seco_mm.utils.logging import (filter_library_warnings, quiet_console,
                                   quiet_mmengine)


def test_only_the_two_library_warnings_are_filtered():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        filter_library_warnings()
        warnings.warn('pkg_resources is deprecated as an API. See ...',
                      UserWarning)
        warnings.warn('Fail to import ``MultiScaleDeformableAttention`` '
                      'from ``mmcv.ops``', UserWarning)
        warnings.warn('something the user should see', UserWarning)
    assert [str(w.message) for w in caught] == [
        'something the user should see']


def _logger(tmp_path, name):
    return MMLogger.get_instance(name, log_file=str(tmp_path / f'{name}.log'),
                                 log_level='INFO')


def test_console_noise_and_progress_dropped_but_kept_in_the_file(
        tmp_path, capsys):
    logger = _logger(tmp_path, 'w5_quiet_console')
    quiet_console(logger, progress=False)
    logger.warning('"FileClient" will be deprecated in future. Please use')
    logger.info('Epoch(train) [1][5/9]  lr: 1.0e-01  eta: 0:00:03  loss: 1')
    logger.info('Epoch(val) [1][9/9]    acc/top1: 0.5000')
    logger.warning('a warning the user can act on')
    out = capsys.readouterr().out
    assert 'FileClient' not in out and 'eta:' not in out
    assert 'acc/top1: 0.5000' in out and 'can act on' in out
    for handler in logger.handlers:
        handler.flush()
    text = (tmp_path / 'w5_quiet_console.log').read_text()
    assert 'FileClient' in text and 'eta: 0:00:03' in text
    # progress lines stay on the console unless asked
    other = _logger(tmp_path, 'w5_keep_progress')
    quiet_console(other)
    other.info('Epoch(train) [1][5/9]  eta: 0:00:03')
    assert 'eta: 0:00:03' in capsys.readouterr().out


class _Net(BaseModule):

    def __init__(self):
        super().__init__(init_cfg=dict(type='Kaiming', layer='Conv2d'))
        self.convs = nn.Sequential(*[nn.Conv2d(3, 3, 1) for _ in range(5)])


def test_init_report_silenced_on_the_console_only(capsys, monkeypatch):
    logger = MMLogger.get_instance('w5_init_report', log_level='INFO')
    monkeypatch.setattr(MMLogger, 'get_current_instance',
                        classmethod(lambda cls: logger))
    # no log file: mmengine reports every parameter on the console
    _Net().init_weights()
    loud = capsys.readouterr().out
    with quiet_mmengine():
        _Net().init_weights()
        print('a print inside the block')
    quiet = capsys.readouterr().out
    assert loud.count('convs.') >= 10  # 5 weights + 5 biases
    assert quiet == ''
    # handler levels are restored afterwards
    assert all(h.level == logging.INFO for h in logger.handlers)


def test_keep_prints_holds_back_log_records_only(capsys, monkeypatch):
    logger = MMLogger.get_instance('w1_keep_prints', log_level='INFO')
    monkeypatch.setattr(MMLogger, 'get_current_instance',
                        classmethod(lambda cls: logger))
    with quiet_mmengine(logging.WARNING, keep_prints=True):
        _Net().init_weights()  # INFO report: held back
        logger.warning('a warning inside the block')
        print('the script prints its table')
    captured = capsys.readouterr()
    assert 'convs.' not in captured.out + captured.err
    assert 'the script prints its table' in captured.out
    assert 'a warning inside the block' in captured.out + captured.err
    assert all(h.level == logging.INFO for h in logger.handlers)
