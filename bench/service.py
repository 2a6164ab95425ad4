"""Load on the shared service: concurrent clients on 127.0.0.1 read a generalised layer.

A layer of 10,000 restricted points is published in a fresh SQLite database and served by
`crossings serve --workers N`. Half the clients are anonymous, half carry the bearer token of a
scientist of a country where none of the points lies: both get the layer generalised to 10 km (two
policy views, each cached once). The load model, stated in the table it prints:

- closed loop: each client is one keep-alive HTTP/1.1 connection that sends the next request when
  the previous reply has been read, after a think time (default 0 ms: no pause at all);
- ``full``: clients ask for the whole body every time (gzip, as a browser does);
- ``revalidate``: clients send the ETag they hold (If-None-Match) and mostly get 304.

The clients run in their own processes (``--client-procs``) on a minimal asyncio HTTP client, so
the load generator costs little of the cores it shares with the server. Target: p95 < 200 ms for
the generalised 10,000-feature layer with 0 errors.

    python bench/service.py [--clients 100] [--seconds 60] [--workers 2] [--modes full,revalidate]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PASSWORD = "bench-password-not-secret"
LAYER = "/api/layers/points/features"
TICKS = os.sysconf("SC_CLK_TCK")


def publish(folder: Path, features: int) -> str:
    import geopandas as gpd
    from shapely import points

    from crossings.service import auth
    from crossings.service.db import open_database, system_session
    from crossings.service.publish import publish_run
    from crossings.service.users import add_user

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
    auth.set_hash_cost(time_cost=1, memory_kib=1024, parallelism=1)  # one sign-in, not timed
    with system_session(open_database(url)) as session:
        publish_run(session, run)
        add_user(session, "scientist_kgz", PASSWORD, [("scientist", "KGZ", ("view",))])
    return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            found += process_tree(int(child))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def peak_rss_mb(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total


# ---- the client: one keep-alive connection per simulated user ---------------------------------


async def fetch(reader, writer, request: bytes):
    """One request on an open connection: (status, headers, body)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return status, headers, body


def request_bytes(port: int, token: str | None, etag: str | None) -> bytes:
    lines = [f"GET {LAYER} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept-Encoding: gzip"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if etag:
        lines.append(f"If-None-Match: {etag}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def one_client(port, token, mode, think_s, stop, rng_seed, out):
    rng = np.random.default_rng(rng_seed)
    etag = None
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        out["errors"] += 1
        return
    while time.monotonic() < stop:
        request = request_bytes(port, token, etag if mode == "revalidate" else None)
        start = time.monotonic()
        try:
            status, headers, body = await asyncio.wait_for(fetch(reader, writer, request), 30)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
            out["latency"].append(time.monotonic() - start)
            out["errors"] += 1
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            continue
        out["latency"].append(time.monotonic() - start)
        full = status == 200 and body[:2] == b"\x1f\x8b"
        ok = full or (mode == "revalidate" and status == 304 and etag is not None)
        out["errors"] += not ok
        out["not_modified"] += status == 304
        out["bytes"] += len(body)
        etag = headers.get("etag", etag)
        if think_s:
            await asyncio.sleep(rng.uniform(0.5, 1.5) * think_s)
    writer.close()


def client_process(port, tokens, mode, think_s, seconds, seed, queue) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    out = {"latency": [], "errors": 0, "not_modified": 0, "bytes": 0}
    cpu = time.process_time()

    async def run():
        stop = time.monotonic() + seconds
        await asyncio.gather(
            *(
                one_client(port, token, mode, think_s, stop, seed * 1000 + i, out)
                for i, token in enumerate(tokens)
            )
        )

    asyncio.run(run())
    out["cpu_s"] = time.process_time() - cpu
    queue.put(out)


def load(port, tokens, mode, think_s, seconds, procs) -> dict:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    shares = [tokens[i::procs] for i in range(procs)]
    workers = [
        context.Process(target=client_process, args=(port, share, mode, think_s, seconds, i, queue))
        for i, share in enumerate(shares)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=seconds + 120) for _ in workers]
    for worker in workers:
        worker.join()
    merged = {
        "latency": np.concatenate([np.array(r["latency"]) for r in results]) * 1000,
        **{k: sum(r[k] for r in results) for k in ("errors", "not_modified", "bytes", "cpu_s")},
    }
    return merged


# ---- the server -------------------------------------------------------------------------------


def start_server(db: str, port: int, workers: int):
    crossings = Path(sys.executable).with_name("crossings")
    command = [str(crossings), "serve", "--db", db, "--port", str(port), "--workers", str(workers)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


def wait_ready(port: int, proc, workers: int) -> None:
    import httpx

    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit("the server exited before it was ready")
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/layers", timeout=1)
            if len(process_tree(proc.pid)) >= (1 if workers == 1 else workers + 1):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not start in 60 s")


def sign_in(port: int) -> str:
    import httpx

    reply = httpx.post(
        f"http://127.0.0.1:{port}/api/login",
        json={"username": "scientist_kgz", "password": PASSWORD},
    )
    reply.raise_for_status()
    return reply.json()["token"]


def sizes(port: int, token: str) -> tuple[int, int, bool]:
    """Plain and gzip bytes of the layer; and whether both policy views got the same bytes."""
    import httpx

    url = f"http://127.0.0.1:{port}{LAYER}"
    plain = httpx.get(url, headers={"Accept-Encoding": "identity"}).content
    signed = httpx.get(
        url, headers={"Accept-Encoding": "identity", "Authorization": f"Bearer {token}"}
    )
    features = json.loads(plain)["features"]
    assert all(f["properties"]["treatment"] == "generalised" for f in features)
    with httpx.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as reply:
        zipped = len(b"".join(reply.iter_raw()))
    return len(plain), zipped, signed.content == plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--features", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--client-procs", type=int, default=2, help="load generator processes")
    parser.add_argument("--think-ms", type=float, default=0.0, help="mean pause between requests")
    parser.add_argument("--signed-in", type=float, default=0.5, help="share of bearer clients")
    parser.add_argument("--modes", default="full", help="full, revalidate or full,revalidate")
    args = parser.parse_args()
    modes = args.modes.split(",")
    if "revalidate" in modes and "full" not in modes:
        modes.insert(0, "full")  # a revalidating figure is reported with the full-body one
    with tempfile.TemporaryDirectory() as tmp:
        db = publish(Path(tmp), args.features)
        port = free_port()
        proc = start_server(db, port, args.workers)
        try:
            wait_ready(port, proc, args.workers)
            token = sign_in(port)
            plain, zipped, same = sizes(port, token)
            signed = round(args.clients * args.signed_in)
            tokens = [token] * signed + [None] * (args.clients - signed)
            results = {}
            for mode in modes:
                pids = process_tree(proc.pid)
                cpu, wall = cpu_seconds(pids), time.monotonic()
                load_avg = os.getloadavg()[0]
                got = load(
                    port, tokens, mode, args.think_ms / 1000, args.seconds, args.client_procs
                )
                got["server_cpu_s"] = cpu_seconds(pids) - cpu
                got["wall_s"] = time.monotonic() - wall
                got["load_before"] = load_avg
                results[mode] = got
            memory = peak_rss_mb(process_tree(proc.pid))
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    print_table(args, modes, results, plain, zipped, same, memory)


def print_table(args, modes, results, plain, zipped, same, memory) -> None:
    print(
        f"crossings serve load test: {os.cpu_count()} cores, {args.workers} uvicorn worker(s), "
        f"{args.client_procs} client process(es)"
    )
    think = f"{args.think_ms:g} ms (uniform 0.5-1.5x)" if args.think_ms else "none"
    print(
        f"load model: closed loop, {args.clients} keep-alive connections, think time {think}, "
        f"{args.seconds:g} s per mode; {args.signed_in:.0%} bearer-token clients "
        "(scientist KGZ), the rest anonymous"
    )
    print(
        f"layer: {args.features} restricted points, generalised to 10 km for both views: "
        f"{plain} bytes, {zipped} gzip (identical bytes for both views: {same})"
    )
    rows = [
        ("mode", lambda r, m: m),
        ("clients send If-None-Match", lambda r, m: "yes" if m == "revalidate" else "no"),
        ("requests", lambda r, m: f"{len(r['latency'])}"),
        ("requests / s", lambda r, m: f"{len(r['latency']) / args.seconds:.0f}"),
        ("304 replies", lambda r, m: f"{r['not_modified']}"),
        ("mean body bytes", lambda r, m: f"{r['bytes'] / max(len(r['latency']), 1):.0f}"),
        ("p50 / p95 / p99 ms", lambda r, m: "{:.1f} / {:.1f} / {:.1f}".format(*pcts(r))),
        ("errors (rate)", lambda r, m: f"{r['errors']} ({rate(r):.4f})"),
        ("server CPU s (% of one core)", lambda r, m: cpu_text(r, "server_cpu_s")),
        ("client CPU s (% of one core)", lambda r, m: cpu_text(r, "cpu_s")),
        ("load average before", lambda r, m: f"{r['load_before']:.2f}"),
        ("target p95 < 200 ms, 0 errors", lambda r, m: met(r)),
    ]
    width = max(len(name) for name, _ in rows)
    for name, cell in rows:
        cells = "  ".join(f"{cell(results[m], m):>22}" for m in modes)
        print(f"{name:<{width}}  {cells}")
    print(f"server peak memory (all processes) MB: {memory:.0f}")


def pcts(r) -> np.ndarray:
    return np.percentile(r["latency"], [50, 95, 99]) if len(r["latency"]) else np.full(3, np.nan)


def rate(r) -> float:
    return r["errors"] / max(len(r["latency"]), 1)


def cpu_text(r, key) -> str:
    return f"{r[key]:.1f} ({100 * r[key] / r['wall_s']:.0f}%)"


def met(r) -> str:
    return "met" if pcts(r)[1] < 200 and r["errors"] == 0 else "NOT met"


if __name__ == "__main__":
    main()
