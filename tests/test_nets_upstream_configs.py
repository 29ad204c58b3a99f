"""Building the paper's networks from the upstream configuration vocabulary (guided-diffusion, score_sde)."""

import copy
import json
from pathlib import Path

import pytest
import torch

from rwbench.nets import adm, ncsnpp

GOLDEN = Path(__file__).resolve().parent / "golden"
pytestmark = pytest.mark.skipif(not GOLDEN.is_dir(), reason=f"golden data folder {GOLDEN} is absent")

DPS_FFHQ_KWARGS = {"image_size": 256, "num_channels": 128, "num_res_blocks": 1, "channel_mult": "", "learn_sigma": True,
                   "class_cond": False, "use_checkpoint": False, "attention_resolutions": "16", "num_heads": 4,
                   "num_head_channels": 64, "num_heads_upsample": -1, "use_scale_shift_norm": True, "dropout": 0.0,
                   "resblock_updown": True, "use_fp16": False, "use_new_attention_order": False}


def golden(name):
    return json.loads((GOLDEN / name).read_text())


def test_guided_diffusion_kwargs_give_the_golden_and_the_ffhq_configs():
    kwargs = golden("adm_small_config.json")["create_model_kwargs"]
    assert adm.config_from_guided_diffusion_kwargs(**kwargs) == adm.SMALL
    assert adm.config_from_guided_diffusion_kwargs(**DPS_FFHQ_KWARGS) == adm.FFHQ256
    net = adm.from_guided_diffusion_kwargs(**kwargs)
    state = torch.load(GOLDEN / "adm_small_state.pt", weights_only=True)
    net.load_state_dict(state, strict=True)


def test_score_sde_config_gives_the_golden_config_and_loads_its_state():
    cfg = golden("ncsnpp_small_config.json")["config"]
    assert ncsnpp.config_from_score_sde_config(cfg) == ncsnpp.SMALL
    full = copy.deepcopy(cfg)
    full["data"]["image_size"], full["model"]["nf"], full["model"]["ch_mult"] = 256, 128, [1, 1, 2, 2, 2, 2, 2]
    assert ncsnpp.config_from_score_sde_config(full) == ncsnpp.FFHQ256
    net = ncsnpp.from_score_sde_config(cfg)
    state = torch.load(GOLDEN / "ncsnpp_small_state.pt", weights_only=True)
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert not unexpected and all("W" in k or "sigmas" in k for k in missing)


@pytest.mark.parametrize("key, value", [("use_scale_shift_norm", False), ("resblock_updown", False), ("class_cond", True)])
def test_unsupported_adm_options_are_refused_by_name(key, value):
    with pytest.raises(ValueError, match=key):
        adm.config_from_guided_diffusion_kwargs(**dict(DPS_FFHQ_KWARGS, **{key: value}))
    with pytest.raises(ValueError, match="unknown option"):
        adm.config_from_guided_diffusion_kwargs(**dict(DPS_FFHQ_KWARGS, num_classes=10))


def test_unsupported_ncsnpp_options_are_refused_by_name():
    cfg = copy.deepcopy(golden("ncsnpp_small_config.json")["config"])
    cfg["model"]["progressive"] = "none"
    with pytest.raises(ValueError, match="progressive"):
        ncsnpp.config_from_score_sde_config(cfg)
