"""Experiment tracking: experiments, their runs, and each run's params, metrics, tags, logs and artifacts,
in tables that MLflow's tracking API maps onto one to one (see `models.py`)."""
