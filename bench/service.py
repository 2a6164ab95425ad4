"""Load on the shared service: concurrent clients on 127.0.0.1 read a generalised layer.

A layer of 10,000 restricted points is published in a fresh SQLite database; anonymous callers get
it generalised to 10 km. N clients (default 100) loop GET /api/layers/points/features for a fixed
time (default 60 s), then the table gives requests, latency percentiles, the error rate and the
server's peak memory. Target: p95 < 200 ms with 0 errors.

    python bench/service.py [--clients 100] [--seconds 60] [--features 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GZIP = {"Accept-Encoding": "gzip"}
SERVER = """
import sys, uvicorn
from crossings.service.app import create_app
from crossings.service.settings import ServiceSettings
uvicorn.run(create_app(ServiceSettings(db_url=sys.argv[1])), host="127.0.0.1",
            port=int(sys.argv[2]), log_level="error", backlog=512)
"""


def publish(folder: Path, features: int) -> str:
    import geopandas as gpd
    from shapely import points

    from crossings.service.db import open_database, system_session
    from crossings.service.publish import publish_run

    rng = np.random.default_rng(42)
    lon, lat = rng.uniform(55, 61, features), rng.uniform(41, 46, features)
    frame = gpd.GeoDataFrame(
        {"species": "saiga", "fence_id": [f"F-{i % 22}" for i in range(features)],
         "country": rng.choice(["KAZ", "UZB", "TKM"], features)},
        geometry=points(np.column_stack([lon, lat])), crs="EPSG:4326",
    )  # fmt: skip
    run = folder / "run"
    run.mkdir()
    frame.to_file(run / "points.gpkg", layer="points", driver="GPKG")
    (run / "manifest.json").write_text(json.dumps({"sensitivity": {"level": "restricted"}}))
    url = f"sqlite:///{folder / 'bench.db'}"
    with system_session(open_database(url)) as session:
        publish_run(session, run)
    return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def load(url: str, clients: int, seconds: float):
    import httpx

    latencies, errors = [], 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one_client():
            nonlocal errors
            while time.perf_counter() < stop:
                start = time.perf_counter()
                try:
                    # Raw gzip bytes, as a browser receives them: the load generator, which
                    # shares the two cores with the server, does not spend them unzipping.
                    async with client.stream("GET", url, headers=GZIP) as reply:
                        body = b"".join([chunk async for chunk in reply.aiter_raw()])
                    ok = reply.status_code == 200 and body.startswith(b"\x1f\x8b")
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - start)
                errors += not ok

        await asyncio.gather(*(one_client() for _ in range(clients)))
    return np.array(latencies), errors


def wait_ready(port: int, proc) -> None:
    import httpx

    for _ in range(200):
        if proc.poll() is not None:
            raise SystemExit("the server exited before it was ready")
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/layers", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("the server did not start in 20 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--features", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = publish(Path(tmp), args.features)
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-c", SERVER, db, str(port)])
        try:
            wait_ready(port, proc)
            url = f"http://127.0.0.1:{port}/api/layers/points/features"
            import httpx

            plain = httpx.get(url, headers={"Accept-Encoding": "identity"}).content
            with httpx.stream("GET", url, headers=GZIP) as reply:
                zipped = len(b"".join(reply.iter_raw()))
            size = len(plain)
            latencies, errors = asyncio.run(load(url, args.clients, args.seconds))
            memory = peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    ms = latencies * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    rows = [
        ("features in layer", f"{args.features}"),
        ("response bytes (generalised, 10 km)", f"{size} ({zipped} gzip)"),
        ("clients", f"{args.clients}"),
        ("seconds", f"{args.seconds:g}"),
        ("requests", f"{len(ms)}"),
        ("requests / s", f"{len(ms) / args.seconds:.0f}"),
        ("p50 / p95 / p99 ms", f"{p50:.0f} / {p95:.0f} / {p99:.0f}"),
        ("error rate", f"{errors / max(len(ms), 1):.4f}"),
        ("server peak memory MB", f"{memory:.0f}"),
        ("target p95 < 200 ms, 0 errors", "met" if p95 < 200 and errors == 0 else "NOT met"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"crossings serve load test ({os.cpu_count()} cores, one uvicorn worker)")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
