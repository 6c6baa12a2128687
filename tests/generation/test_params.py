import pytest

from core.errors import ValidationFailed
from generation.params import RenderParams, render_params_parse


def test_defaults_fill_what_is_not_given():
    assert render_params_parse({"steps": 4}) == RenderParams(steps=4)


@pytest.mark.parametrize("raw, field", [
    ({"num_frames": 1}, "num_frames"), ({"num_frames": 33}, "num_frames"), ({"width": 100}, "width"),
    ({"height": 2048}, "height"), ({"steps": 0}, "steps"), ({"steps": "10"}, "steps"), ({"steps": True}, "steps"),
    ({"guidance_scale": 21}, "guidance_scale"), ({"guidance_scale": "high"}, "guidance_scale"),
    ({"seed": -1}, "seed"), ({"fps": 0}, "fps"), ({"strength": 1}, "strength"),
])
def test_out_of_bounds_parameters_are_refused_with_the_field_named(raw, field):
    with pytest.raises(ValidationFailed) as error:
        render_params_parse(raw)
    assert error.value.field == field
