# UCF101 split 1 fine-tuning of an I3D (ResNet3d-50) inflated from the 2D
# SeCo backbone: mmaction2's I3D Kinetics-400 recipe (32x2x1 clips, 100
# epochs) with 101 classes and UCF101 lists. Not the paper's protocol (that
# is the TSN config next to this file); it shows the 2D SeCo weights feeding
# a 3D network.
#
# ResNet3d ignores init_cfg and inflates from `pretrained` when
# pretrained2d=True, reading torchvision key names (conv1.weight, bn1.*,
# layerX.Y.downsample.0/1). Export in that layout:
#
#   python tools/export_backbone.py work_dirs/seco_r50_kinetics/epoch_400.pth \
#       work_dirs/seco_r50_kinetics/backbone_tv.pth --layout torchvision
#   python tools/train.py configs/downstream/i3d_r50_inflated_finetune_ucf101_split1.py
#
# (another file: --cfg-options model.backbone.pretrained=PATH)
#
# Each 3D kernel is the 2D kernel repeated over time and divided by its
# temporal size (so a static clip gives the 2D response); BN is copied.
_base_ = [
    'mmaction::recognition/i3d/'
    'i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py'
]
custom_imports = dict(imports=['seco_mm'], allow_failed_imports=False)

# exported SeCo backbone in the torchvision layout; override with
# --cfg-options model.backbone.pretrained=PATH
model = dict(
    backbone=dict(pretrained='work_dirs/seco_r50_kinetics/backbone_tv.pth',
                  pretrained2d=True),
    cls_head=dict(num_classes=101))

data_root = 'data/ucf101/videos'
ann_file_train = 'data/ucf101/ucf101_train_split_1_videos.txt'
ann_file_val = 'data/ucf101/ucf101_val_split_1_videos.txt'
train_dataloader = dict(dataset=dict(ann_file=ann_file_train,
                                     data_prefix=dict(video=data_root)))
val_dataloader = dict(dataset=dict(ann_file=ann_file_val,
                                   data_prefix=dict(video=data_root)))
test_dataloader = dict(dataset=dict(ann_file=ann_file_val,
                                    data_prefix=dict(video=data_root)))
