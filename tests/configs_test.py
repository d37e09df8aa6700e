"""configs/best.py: each dataset's best configuration is the default job plus its overrides."""

import pytest

from configs import best, default
from launch.common import _leaves as flat  # {"section.field": value} of a config


@pytest.mark.parametrize("name", sorted(best.BEST))
def test_best_config_is_the_default_plus_its_overrides(name):
    # Given a dataset's best config; then it differs from configs/default.py exactly in the
    # dataset's name and its listed overrides, and adds no field (a misspelt override would).
    got, base = flat(best.get_config(name)), flat(default.get_config())
    assert got.keys() == base.keys()
    changed = {k: v for k, v in got.items() if v != base[k]}
    expected = {k: v for k, v in best.BEST[name].items() if v != base[k]}
    if name != base["data.name"]:
        expected["data.name"] = name
    assert changed == expected
    assert expected or name in ("stocks", "energy")  # Only those two are the default job.


def test_best_config_names_the_five_published_datasets():
    # The published tables' five sets, each a named dataset of ldx.
    assert sorted(best.BEST) == ["energy", "etth1", "fmri", "sines", "stocks"]
