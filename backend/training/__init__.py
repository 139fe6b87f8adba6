"""Training jobs: a user asks for a model family to be trained on a dataset version's stored split; a
job on the `training` queue runs PyTorch Lightning in its own process (`python -m backend.training.runner`),
streams metrics and logs into an experiment run, checkpoints every epoch into the artifact store, and on
success registers the best checkpoint as a new version of the target model with its lineage."""
