"""Small helpers shared by the hooks and tools that inspect a dataset."""
__all__ = ['unwrap_dataset']


def unwrap_dataset(dataset):
    """The innermost dataset below mmengine's single-dataset wrappers.

    ``RepeatDataset`` and ``ClassBalancedDataset`` keep the wrapped dataset
    in ``.dataset``; this follows that chain to the end. A
    ``ConcatDataset`` (several datasets in ``.datasets``) has no single
    inner dataset and is returned as it is. mmengine has no public helper
    for this (``mmengine.model`` only unwraps *models*), hence this one.
    """
    while hasattr(dataset, 'dataset'):
        dataset = dataset.dataset
    return dataset
