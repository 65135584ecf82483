# HMDB51 split 1 fine-tuning from a SeCo backbone: the same protocol as
# tsn_r50_finetune_ucf101_split1.py (TSN R50, 7x1 frames, dropout 0.9,
# partial BN, SGD Nesterov lr 1e-3, steps at 50/100 of 150 epochs, clip 40,
# test 20 frames x 3 crops at 256), 51 classes.
#
#   python tools/train.py configs/downstream/tsn_r50_finetune_hmdb51_split1.py
#
# (backbone read from work_dirs/seco_r50_kinetics/backbone.pth, as in the UCF101 config;
# another one: --cfg-options model.backbone.init_cfg.checkpoint=PATH)
#
# Data in mmaction2's layout (tools/data/hmdb51 of mmaction2): videos under
# data/hmdb51/videos, lists data/hmdb51/hmdb51_{train,val}_split_1_videos.txt.
_base_ = ['./tsn_r50_finetune_ucf101_split1.py']

data_root = 'data/hmdb51/videos'
ann_file_train = 'data/hmdb51/hmdb51_train_split_1_videos.txt'
ann_file_val = 'data/hmdb51/hmdb51_val_split_1_videos.txt'

model = dict(cls_head=dict(num_classes=51))
train_dataloader = dict(dataset=dict(ann_file=ann_file_train,
                                     data_prefix=dict(video=data_root)))
val_dataloader = dict(dataset=dict(ann_file=ann_file_val,
                                   data_prefix=dict(video=data_root)))
test_dataloader = dict(dataset=dict(ann_file=ann_file_val,
                                    data_prefix=dict(video=data_root)))
