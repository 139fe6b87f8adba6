"""The design's catalog routes of benchmarks (`/catalog/models/benchmark`, `/catalog/models/rankings`): a
router of its own so it mounts before the model registry's `/catalog/models/{modelId}` (see DOMAINS)."""
