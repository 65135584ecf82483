"""SiamFC tracker model, head, loss and data preprocessor."""
from .balanced_logistic_loss import BalancedLogisticLoss
from .data_preprocessor import SiamFCDataPreprocessor
from .siamfc import SiamFC
from .siamfc_head import SiamFCHead, cross_correlation

__all__ = [
    'BalancedLogisticLoss', 'SiamFCDataPreprocessor', 'SiamFC', 'SiamFCHead',
    'cross_correlation'
]
