"""Tracking datasets (OTB-100, GOT-10k), pair sampler and its transforms."""
from .got10k import GOT10kDataset, load_got10k_sequences
from .otb import (OTBDataset, load_otb_sequences, parse_info_file,
                  read_gt_file, scan_sequences)
from .pair_dataset import SOTPairDataset
from .transforms import (LoadSOTPairImages, PackSiamFCInputs, SiamFCPairCrop,
                         read_rgb)

__all__ = [
    'GOT10kDataset', 'load_got10k_sequences', 'OTBDataset',
    'load_otb_sequences', 'parse_info_file', 'read_gt_file', 'scan_sequences',
    'SOTPairDataset', 'LoadSOTPairImages', 'PackSiamFCInputs',
    'SiamFCPairCrop', 'read_rgb'
]
