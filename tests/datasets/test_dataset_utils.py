from types import SimpleNamespace

from mmengine.dataset import BaseDataset, ConcatDataset, RepeatDataset

from seco_mm.datasets.utils import unwrap_dataset


class _Tiny(BaseDataset):

    def load_data_list(self):
        return [dict(x=i) for i in range(3)]


def test_unwrap_dataset_follows_repeat_chain_and_keeps_concat():
    inner = _Tiny()
    assert unwrap_dataset(RepeatDataset(inner, times=2)) is inner
    # mmengine's wrappers refuse to nest directly; a custom wrapper may
    chain = SimpleNamespace(dataset=RepeatDataset(inner, times=3))
    assert unwrap_dataset(chain) is inner
    assert unwrap_dataset(inner) is inner
    concat = ConcatDataset([_Tiny(), _Tiny()])
    assert unwrap_dataset(concat) is concat  # no single inner dataset
    assert unwrap_dataset(SimpleNamespace(dataset=concat)) is concat
