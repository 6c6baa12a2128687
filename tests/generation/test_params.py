import pytest

from core.errors import ValidationFailed
from generation.params import RenderParams, TrainingParams, render_params_parse, training_params_parse


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


@pytest.mark.parametrize("parse, raw, message", [
    (render_params_parse, {"width": 260}, "width must be a multiple of 8."),
    (render_params_parse, {"steps": 101}, "steps must be between 1 and 100."),
    (render_params_parse, {"steps": 2.5}, "steps must be a whole number."),
    (render_params_parse, {"seed": 2**32}, "seed must be between 0 and 4294967295."),
    (render_params_parse, {"likeness_weight": 2}, "likeness_weight must be between 0 and 1.5."),
    (render_params_parse, {"guidance_scale": "high"}, "guidance_scale must be a number."),
    (render_params_parse, {"strength": 1, "motion": 2}, "Unknown render parameters: motion, strength."),
    (training_params_parse, {"epochs": 3}, "Unknown training parameters: epochs."),
    (training_params_parse, {"rank": 1.5}, "rank must be a whole number."),
    (training_params_parse, {"learning_rate": 1}, "learning_rate must be between 1e-06 and 0.01."),
    (training_params_parse, {"alpha": 0.1}, "alpha must be between 0.5 and 256."),
    (training_params_parse, {"prior_preservation": "yes"}, "prior_preservation must be true or false."),
    (training_params_parse, {"class_noun": "cat"}, "class_noun must be one of person, man, woman, child, actor, actress."),
    # One way for both: a training's whole-number bounds read as whole numbers too.
    (training_params_parse, {"seed": -1}, "seed must be between 0 and 4294967295."),
])
def test_refusals_say_what_is_wrong_in_plain_words(parse, raw, message):
    with pytest.raises(ValidationFailed) as error:
        parse(raw)
    assert error.value.message == message


def test_training_parameters_over_their_defaults_with_numbers_as_their_fields_type():
    params = training_params_parse({"steps": 30, "alpha": 4, "class_noun": "actor", "train_text_encoder": True})
    assert params == TrainingParams(steps=30, alpha=4.0, class_noun="actor", train_text_encoder=True)
    assert isinstance(params.alpha, float)
    assert training_params_parse(None) == TrainingParams()
