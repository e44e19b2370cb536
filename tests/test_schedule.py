import pytest

from lfmcli.schedule import CosineSchedule


def test_cosine_schedule_warms_up_linearly_then_decays_to_min_lr():
    s = CosineSchedule(lr=1e-3, min_lr=1e-5, warmup_steps=4)
    assert [s.lr_at(k, 0.0) for k in range(5)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3])
    assert s.lr_at(100, 0.5) == pytest.approx((1e-3 + 1e-5) / 2)  # half way: the mean of the two ends
    assert s.lr_at(100, 1.0) == pytest.approx(1e-5) and s.lr_at(100, 3.0) == pytest.approx(1e-5)  # budget spent
    decay = [s.lr_at(100, p / 10) for p in range(11)]
    assert all(a > b for a, b in zip(decay, decay[1:], strict=False))
