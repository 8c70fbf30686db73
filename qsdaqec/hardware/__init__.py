"""Hardware inference of a trained run: its head's problem on a set of samples (the run's test
split, or other images), submitted as jobs through :mod:`qsdaqec.runner.jobs`.

Application glue above the layers it uses (train for the run, quantum for the problem, runner
for the jobs); nothing below imports it.
"""

from .inputs import InferenceInputs, images_from, inference_inputs
from .submit import plan_trained_run, submit_trained_run

__all__ = [
    "InferenceInputs",
    "images_from",
    "inference_inputs",
    "plan_trained_run",
    "submit_trained_run",
]
