"""Adapters between files and the core: rasters, vectors, tracks, camera traps, run logs."""
