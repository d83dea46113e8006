"""The shared kernel every QSR service is built on."""
