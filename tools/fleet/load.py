#!/usr/bin/env python3
"""Open load for the fleet rehearsal: PUTs an image to /predictions/MODEL at a fixed rate, each
request on a new connection at its scheduled time, until STOP_FILE exists (or MAX_S pass).
Writes one JSON object to stdout: how many requests were sent, answered 200, answered with
another status (by status), and failed without an answer (by error); and whether the schedule was
kept: "achieved_rate" (requests over the span from the first connection opened to the last) and
"lag_ms" (p50, p99, max of how late each connection was opened against its scheduled time). A
submitted request waits for a free thread, so a client that cannot keep up shows as lag and a
lower achieved rate, not as a lower "sent". Standard library only.

Usage: tools/fleet/load.py PORT MODEL IMAGE RATE STOP_FILE [MAX_S]
"""
import collections
import http.client
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

if len(sys.argv) not in (6, 7):
    sys.exit(__doc__)
port, model, image, rate, stop_file = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
max_s = float(sys.argv[6]) if len(sys.argv) == 7 else 600.0
body = open(image, "rb").read()
content_type = "image/png" if image.endswith(".png") else "image/jpeg"
counts = collections.Counter()
lags = []  # (when the connection was opened, how late against its schedule), in seconds
lock = threading.Lock()


def one(scheduled):
    opened = time.time()
    with lock:
        lags.append((opened, opened - scheduled))
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("PUT", f"/predictions/{model}", body=body,
                           headers={"Content-Type": content_type, "Connection": "close"})
        response = connection.getresponse()
        response.read()
        key = "200" if response.status == 200 else f"status {response.status}"
        connection.close()
    except OSError as error:
        key = f"error {type(error).__name__}"
    except http.client.HTTPException as error:
        key = f"error {type(error).__name__}"
    with lock:
        counts[key] += 1


start = time.time()
sent = 0
with ThreadPoolExecutor(max_workers=128) as pool:
    while not os.path.exists(stop_file) and time.time() - start < max_s:
        delay = start + sent / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        pool.submit(one, start + sent / rate)
        sent += 1
elapsed = time.time() - start
opened = sorted(t for t, _ in lags)
late = sorted(lag for _, lag in lags)
achieved = (len(opened) - 1) / (opened[-1] - opened[0]) if len(opened) > 1 and opened[-1] > opened[0] else 0.0


def percentile(q):
    return round(1000 * late[min(len(late) - 1, int(q * len(late)))], 1) if late else None


print(json.dumps({"sent": sent, "seconds": round(elapsed, 1), "rate": rate, "achieved_rate": round(achieved, 1),
                  "lag_ms": {"p50": percentile(0.5), "p99": percentile(0.99), "max": percentile(1.0)},
                  "ok": counts.pop("200", 0), "failed": dict(counts)}))
