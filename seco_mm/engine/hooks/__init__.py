from .momentum_update_hook import SeCoMomentumHook

__all__ = ['SeCoMomentumHook']
