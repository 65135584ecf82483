from .seco import SeCo

__all__ = ['SeCo']
