"""The study's plan: the config's checks and reference, named training sets, and the grid of cells and why one cannot run."""
