# The demo recipe (seco_r18_demo.py) plus the online k-NN monitor: what
# `make demo` trains. The monitor (docs/monitoring.md) extracts frame-mean
# features of the demo clips with the current query backbone every 25
# epochs and before training (3 passes), with the linear probe's frames (8
# uniformly spaced, short side 72, centre crop 64), and logs k-NN top-1 and
# clip retrieval R@1 / R@5 of val against train as scalars. It does not change
# the training trajectory (tests/engine/test_knn_monitor_hook.py).
_base_ = ['./seco_r18_demo.py']

knn_clips = dict(
    type='VideoDataset', data_prefix=dict(video={{_base_.data_root}}),
    test_mode=True,
    pipeline=[
        dict(type='DecordInit', io_backend='disk'),
        dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=8,
             test_mode=True),
        dict(type='DecordDecode'),
        dict(type='Resize', scale=(-1, 72)),
        dict(type='CenterCrop', crop_size={{_base_.crop_size}}),
        dict(type='FormatShape', input_format='NCHW'),
        dict(type='PackActionInputs'),
    ])
# the demo recipe's hooks, then the monitor (tools/run_demo.py finds it by
# type and points its datasets at the generated data)
custom_hooks = _base_.custom_hooks + [
    dict(type='KNNMonitorHook', interval=25, k=20, temperature=0.07,
         train_dataset=dict(knn_clips, ann_file='data/demo/train.txt'),
         val_dataset=dict(knn_clips, ann_file='data/demo/val.txt')),
]
