"""LMOptions: one validator, one message per bad field, flat fields in every on-policy config."""

from __future__ import annotations

import dataclasses

import pytest

from agents import A2CConfig, LMOptions, PPOConfig, REINFORCEConfig
from agents.persistence import config_from_dict

ON_POLICY = [LMOptions, PPOConfig, A2CConfig, REINFORCEConfig]

BAD = [
    ({"num_envs": 0}, "num_envs must be an int >= 1; got 0"),
    ({"num_envs": 2.0}, "num_envs must be an int >= 1; got 2.0"),
    ({"temperature": 0.0}, "temperature must be > 0; got 0.0"),
    ({"temperature": float("nan")}, "temperature must be > 0; got nan"),
    ({"top_k": -1}, "top_k must be an int >= 0; got -1"),
    ({"top_k": 1.5}, "top_k must be an int >= 0; got 1.5"),
    ({"top_p": 0.0}, r"top_p must be None or in \(0, 1\]; got 0.0"),
    ({"top_p": 1.5}, r"top_p must be None or in \(0, 1\]; got 1.5"),
    ({"kl_coef": -0.1}, "kl_coef must be >= 0; got -0.1"),
    ({"kl_coef": float("inf")}, "kl_coef must be >= 0; got inf"),
    ({"reference": "fp16"}, "reference must be one of 'fp32', 'bf16', 'none'; got 'fp16'"),
    ({"reference": "none", "kl_coef": 0.1}, "reference must be 'fp32' or 'bf16' when kl_coef > 0"),
    ({"cache_mode": "none"}, "cache_mode must be 'per_row' or 'rebuild'; got 'none'"),
]


@pytest.mark.parametrize("cls", ON_POLICY, ids=[c.__name__ for c in ON_POLICY])
@pytest.mark.parametrize(("kwargs", "message"), BAD, ids=[m.split()[0] + "-" + str(i) for i, (_, m) in enumerate(BAD)])
def test_each_bad_field_gets_one_message_naming_it(cls, kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        cls(**kwargs)


@pytest.mark.parametrize("cls", ON_POLICY, ids=[c.__name__ for c in ON_POLICY])
def test_defaults_and_good_values(cls):
    options = cls()
    assert (options.num_envs, options.temperature, options.top_k, options.top_p) == (8, 1.0, None, None)
    assert (options.kl_coef, options.reference, options.cache_mode) == (0.0, "fp32", "per_row")
    good = cls(temperature=0.7, top_k=0, top_p=1.0, kl_coef=0.05, reference="bf16", cache_mode="rebuild")
    assert good.sampling == {"temperature": 0.7, "top_k": 0, "top_p": 1.0}
    assert cls(reference="none").reference == "none"  # no reference needs kl_coef == 0, the default


def test_fields_stay_flat_and_round_trip_through_a_saved_dict():
    config = PPOConfig(kl_coef=0.05, temperature=0.9, adaptive_kl=True, hidden_sizes=(32,))
    saved = dataclasses.asdict(config)
    assert saved["kl_coef"] == 0.05 and saved["temperature"] == 0.9 and "lm" not in saved
    assert config_from_dict(PPOConfig, {**saved, "hidden_sizes": [32]}) == config
    with pytest.raises(ValueError, match="unknown PPOConfig field 'gone'"):
        config_from_dict(PPOConfig, {**saved, "gone": 1})
    assert [f.name for f in dataclasses.fields(REINFORCEConfig)][0] == "num_envs"


def test_options_are_keyword_only():
    with pytest.raises(TypeError):
        PPOConfig(8)  # type: ignore[misc]


def test_resolve_device_auto_and_clear_errors():
    import torch

    from agents.options import resolve_device

    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu") == resolve_device(torch.device("cpu"))
    with pytest.raises(ValueError, match="device must be one of cpu, cuda, auto"):
        resolve_device("tpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no CUDA device; use 'cpu' or 'auto'"):
            resolve_device("cuda")
