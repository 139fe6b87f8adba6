"""Model comparison, scoring and analysis: weighted multi-criteria comparison of catalog models, model
versions and marketplace listings (metric definitions, normalisation, rankings, sensitivity, Pareto front,
insights), user-defined scoring formulas, and performance and cost-efficiency analysis."""
