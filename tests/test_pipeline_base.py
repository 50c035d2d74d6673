import json

import pytest

from reasongen.methods.pipeline_base import ReasongenPipeline


class Tiny(ReasongenPipeline):
    defaults = {"steps": 20, "guidance_scale": 5.0}

    def __init__(self, **settings):
        self.register_settings(settings)


def test_settings_are_diffusers_config_checked_against_the_defaults_and_saved_in_the_index(tmp_path):
    pipe = Tiny(steps=4)
    assert pipe.config["steps"] == 4 and pipe.config.guidance_scale == 5.0
    with pytest.raises(Exception, match="update"):  # diffusers' FrozenDict: settings change through register_to_config
        pipe.config.update(steps=8)
    pipe.register_to_config(steps=8)
    assert pipe.config.steps == 8
    with pytest.raises(ValueError, match=r"unknown Tiny settings \['stpes'\]; known: steps, guidance_scale"):
        Tiny(stpes=4)
    pipe.write_model_index(tmp_path, pipe.model_index(text_encoder="minilm"))
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["_class_name"] == "Tiny" and index["_diffusers_version"] and index["text_encoder"] == "minilm"
    assert Tiny.settings_in(index) == {"steps": 8, "guidance_scale": 5.0}
    assert not list(tmp_path.glob("*.tmp"))
