"""Reports: static maps now, self-contained HTML reports later.

Import the map function from :mod:`crossings.report.maps` (``plot_landscape``); importing this
package alone does not load matplotlib.
"""
