"""Benchmarks: the platform's own packaged model versions run on a dataset version's split in an
`inference` job, measuring quality (accuracy, precision/recall/F1 macro and per class, ROC-AUC; RMSE,
MAE, R²), single-prediction latency percentiles and batch throughput on the worker's device; results per
(model version, dataset version, task), default and named leaderboards, and model rankings."""
