from .seco_projector import SeCoProjector

__all__ = ['SeCoProjector']
