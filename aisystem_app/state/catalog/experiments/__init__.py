"""States of the experiments pages: the list, one experiment (runs, charts, best parameters) and compare."""
