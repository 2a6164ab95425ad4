"""The shared, access-controlled map and workspace (``crossings serve``).

FastAPI + SQLAlchemy 2 (SQLite by default, PostgreSQL/PostGIS for deployments) + a vendored
MapLibre map. The service never holds analysis logic: it publishes run folders written by
:mod:`crossings.jobs` and decides, on the server, what each role may see of them.

Its dependencies are optional (``pip install 'crossings[service]'``); nothing outside this package
imports it, so the core package imports without them.
"""
