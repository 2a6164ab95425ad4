"""Pure computation: numpy, scipy, pyamg and shapely only. No file I/O, no CLI, no web."""
