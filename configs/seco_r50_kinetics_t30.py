# SeCo on Kinetics-400 from extracted frames, as the authors' code trains:
# 30 uniformly spaced JPEG frames per video at short side 256, a, b, c drawn
# among those 30 with the halves split at 30 // 2. Everything else is
# configs/seco_r50_kinetics.py (the paper's recipe).
#
# Extract once (resumable; failures go to t30_s256/failures.txt):
#   python tools/extract_frames.py data/kinetics400/videos_train \
#       data/kinetics400/t30_s256 \
#       --ann-file data/kinetics400/kinetics400_train_list_videos.txt \
#       --num-frames 30 --short-side 256 --workers 16
# then:
#   bash tools/dist_train.sh configs/seco_r50_kinetics_t30.py 4
#
# The same distribution without extraction: keep seco_r50_kinetics.py and
# set SeCoSampleIndices(num_grid=30) (decodes the videos every epoch).
_base_ = ['./seco_r50_kinetics.py']

frames_root = 'data/kinetics400/t30_s256'
backend_args = None  # e.g. dict(backend='petrel') for object storage
train_pipeline = [
    dict(type='SeCoSampleIndices'),
    dict(type='SeCoRawFrameDecode', backend_args=backend_args),
    dict(type='SeCoMultiView', view_pipeline={{_base_.view_pipeline}}),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs', algorithm_keys=('seco_order', )),
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='SeCoRawframeDataset',
        ann_file=f'{frames_root}/frames_list.txt',
        data_prefix=dict(img=frames_root),
        filename_tmpl='img_{:05}.jpg',  # 'frame_{:06}.jpg': reference names
        start_index=1,
        pipeline=train_pipeline))
