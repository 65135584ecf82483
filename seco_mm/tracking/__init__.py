"""SiamFC tracking on SeCo backbones and OTB-100 one-pass evaluation.

Importing this package registers ``SiamFC``, ``SiamFCHead``,
``BalancedLogisticLoss``, ``SiamFCDataPreprocessor`` (MODELS),
``OTBDataset``, ``GOT10kDataset``, ``SOTPairDataset`` (DATASETS) and the pair
transforms (TRANSFORMS) in mmaction2's registries. The OPE metrics live in
``seco_mm.evaluation.sot_metrics``; plots in
``seco_mm.tracking.visualization``.
"""
from .apis import *  # noqa: F401,F403
from .datasets import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403
