# SeCo (Yao et al., AAAI 2021) on Kinetics-400, the paper's recipe:
# ResNet-50 frame encoder, inter + intra + order losses, queue 131072, T 0.1,
# global batch 512 (128 x 4 GPUs), SGD lr 0.2, cosine with 5 warm-up epochs,
# 400 epochs, momentum encoder m = 0.999.
#
#   bash tools/dist_train.sh configs/seco_r50_kinetics.py 4
#   python tools/train.py configs/seco_r50_kinetics.py   # one process
#
# One process: lr follows the real global batch (auto_scale_lr, logged at
# start: 128 samples -> lr 0.05), and split BN over 4 groups stands in for
# the 4 GPUs' shuffling BN (model.split_bn_groups). docs/method.md has the
# details and the remaining differences from the reference code.
#
# Expects data/kinetics400/kinetics400_train_list_videos.txt and
# data/kinetics400/videos_train/ (mmaction2's layout; labels are ignored).
_base_ = [
    './_base_/models/seco_r50.py',
    './_base_/datasets/kinetics400_seco.py',
    './_base_/schedules/sgd_cosine_400e.py',
    './_base_/seco_runtime.py',
]

# The paper starts from MoCo v2 ImageNet weights: moco_v2_200ep_pretrain.pth.tar
# (facebookresearch/moco, "Models" table; a path or its https URL). Also
# accepted: mmpretrain/mmselfsup MoCo v2 files and a torchvision ResNet-50
# state dict (docs/checkpoints.md, "MoCo initialisation"). None: random init.
model = dict(moco_checkpoint=None)
# model = dict(moco_checkpoint='checkpoints/moco_v2_200ep_pretrain.pth.tar')

# As the reference (broadcast_buffers=False): no buffer broadcast from rank 0
# before each forward. The queue is identical on every rank by construction
# and each rank's key-encoder BN statistics stay its own, as in MoCo; the
# broadcast would also copy the 64 MiB queue every step.
model_wrapper_cfg = dict(type='MMDistributedDataParallel',
                         broadcast_buffers=False)
