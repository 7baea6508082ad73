"""Issue 15 item 11: objective signatures the search cannot call are refused at construction,
naming the three forms (they used to be accepted, then every job failed)."""

from __future__ import annotations

import pytest

from asha_nb import Search, Trial, space
from asha_nb.errors import InvalidTypeError
from asha_nb.executors._worker import ObjectiveForm, objective_form

SPACE = {"x": space.uniform(0.0, 1.0)}
FORMS = ("objective(config, resource) -> value",
         "objective(config, resource, checkpoint) -> (value, new_checkpoint)",
         "objective(trial) -> value")


def four(config, resource, checkpoint, extra):
    return 0.0, None


def keyword_only(config, resource, *, scale):
    return 0.0


def config_only(config):
    return config["x"]


def params_only(params):
    return params["x"]


@pytest.mark.parametrize("objective, why", [
    (four, "4 required parameters"),
    (keyword_only, "required keyword-only parameter(s) scale"),
    (config_only, "its one parameter 'config' would receive a Trial"),
    (params_only, "its one parameter 'params' would receive a Trial"),
])
@pytest.mark.parametrize("executor", ["thread", "process"])
def test_a_signature_the_search_cannot_call_is_refused_at_construction(objective, why, executor):
    with pytest.raises(InvalidTypeError) as info:
        Search(objective, SPACE, executor=executor, max_trials=2, max_resource=1)
    message = str(info.value)
    assert why in message
    assert all(form in message for form in FORMS), message


def test_the_forms_that_can_be_called_are_still_accepted():
    def trial_named(trial):
        return trial.config["x"]

    def annotated(config: Trial):  # a Trial annotation says what it receives
        return config.config["x"]

    def annotated_str(cfg: "Trial"):  # noqa: UP037 - a string annotation, on purpose
        return cfg.config["x"]

    def other_name(t):
        return t.config["x"]

    def defaults_ok(config, resource, checkpoint, extra=1):
        return 0.0, None

    def kw_with_default(config, resource, *, scale=2.0):
        return 0.0

    for fn in (trial_named, annotated, annotated_str, other_name):
        assert objective_form(fn) is ObjectiveForm.TRIAL, fn
    assert objective_form(defaults_ok) is ObjectiveForm.CHECKPOINT
    assert objective_form(kw_with_default) is ObjectiveForm.PLAIN
    search = Search(annotated, SPACE, executor="simulated", max_trials=3, max_resource=1,
                    progress=False).run()
    assert [r.status.value for r in search.records()] == ["ok"] * 3
