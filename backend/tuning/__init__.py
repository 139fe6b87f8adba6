"""Hyperparameter optimisation: Optuna studies over an experiment, each trial an ordinary training job and
run of that experiment, advanced event by event (no job waits for another), and population-based
training on top of the training jobs' checkpoints."""
