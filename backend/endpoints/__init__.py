"""Model endpoints: registered model versions served for prediction by the platform's web processes
(with traffic splits, keys, rate limits and a prediction log) and batch prediction on `inference` workers."""
