"""States of the training pages."""
