"""Export the backbone of a SeCo checkpoint for mmaction2 downstream configs.

Usage:
    python tools/export_backbone.py CKPT OUT.pth [--key-encoder]
        [--layout mmaction|torchvision]

``mmaction`` layout (default) loads into 2D recognizers (TSN) with
``init_cfg=dict(type='Pretrained', checkpoint=OUT.pth, prefix='backbone.')``
on a ``ResNet`` whose ``pretrained=None``; ``torchvision`` layout is what
``ResNet3d(pretrained=OUT.pth, pretrained2d=True)`` inflates to 3D.
"""
import argparse
import os
import os.path as osp
import sys

import seco_mm  # noqa: F401  (compat fixes before mmaction.models)
from seco_mm.models.utils.export import (LAYOUTS, SeCoCheckpointError,
                                         export_backbone)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint', help='SeCo pretraining checkpoint')
    parser.add_argument('out', help='output .pth file')
    parser.add_argument(
        '--key-encoder', action='store_true',
        help='export the momentum (key) encoder backbone '
        '(momentum_encoder.module.0.*) instead of the query backbone')
    parser.add_argument(
        '--layout', choices=LAYOUTS, default='mmaction',
        help="'mmaction': keys backbone.<ConvModule name> (TSN, "
        "init_cfg Pretrained with prefix='backbone.'); 'torchvision': "
        'torchvision names without prefix (ResNet3d 2D->3D inflation)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out_dir = osp.dirname(osp.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    try:
        info = export_backbone(args.checkpoint, args.out,
                               key_encoder=args.key_encoder,
                               layout=args.layout)
    except SeCoCheckpointError as err:
        print(f'export_backbone: error: {err}', file=sys.stderr)
        return 2
    print(f"exported {info['encoder']} backbone {info['backbone_cfg']} "
          f"({info['num_tensors']} tensors, {info['num_params']:,} "
          f"parameters, {info['layout']} layout) -> {args.out}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
