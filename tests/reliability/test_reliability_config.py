"""Benchmark configs are bounded: no YAML aliases, typed name and description."""

from __future__ import annotations

import pytest

from benchmarks.config import plan
from benchmarks.presets import ConfigError, load_config

_ENVS = "envs:\n  - id: lm_envs/ProductRecommendation-v0\n    agents: [random]\n"


def test_yaml_aliases_are_refused(tmp_path):
    # nested aliases grow exponentially; this small one stands for the huge ones
    path = tmp_path / "aliases.yaml"
    path.write_text("a: &a [x, x]\nb: &b [*a, *a]\ndescription: &d hi\nname: *d\n" + _ENVS)
    with pytest.raises(ConfigError, match=r"line 2: YAML aliases \(\*a\) are not allowed"):
        load_config(path)


@pytest.mark.parametrize(("key", "value"), [("name", "[1, 2]"), ("description", "{a: 1}"), ("name", "'../..'"),
                                            ("name", "''")])
def test_name_and_description_must_be_strings(tmp_path, key, value):
    path = tmp_path / "c.yaml"
    path.write_text(f"{key}: {value}\n" + _ENVS)
    with pytest.raises(ConfigError, match=f"{key} must be a"):
        plan(load_config(path))
