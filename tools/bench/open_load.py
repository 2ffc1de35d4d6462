#!/usr/bin/env python3
"""Open load: PUTs an image to /predictions/MODEL at a fixed rate, whatever the answers (wrk keeps
a fixed number of clients, each sending again when answered: closed load). Each request goes on
a new connection at its scheduled time (0.5 s after start + i / RATE), from a pool of threads.
Prints the answers per second finished in the last three quarters of the run (the first quarter
is a warm-up), how many were not 200 (503 when the server's queue was full), and p50 / p99 of the
time from each request's scheduled start to its answer. Standard library only; the client runs on
the same machine as the server and takes some of its CPU.

Usage: tools/bench/open_load.py PORT MODEL IMAGE RATE DURATION_S [CONTENT_TYPE]
  e.g. tools/bench/open_load.py 8080 resnet50 Tests/Fixtures/images/astronaut_320x288_q85_420.jpg 29 30
"""
import http.client
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

if len(sys.argv) not in (6, 7):
    sys.exit(__doc__)
port, model, image = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rate, duration = float(sys.argv[4]), float(sys.argv[5])
content_type = sys.argv[6] if len(sys.argv) == 7 else ("image/png" if image.endswith(".png") else "image/jpeg")
body = open(image, "rb").read()
results = []
lock = threading.Lock()


def one(scheduled):
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("PUT", f"/predictions/{model}", body=body, headers={"Content-Type": content_type})
        response = connection.getresponse()
        response.read()
        status = response.status
        connection.close()
    except OSError:
        status = -1
    with lock:
        results.append((scheduled, time.time(), status))


start = time.time() + 0.5
with ThreadPoolExecutor(max_workers=256) as pool:
    for i in range(int(rate * duration)):
        scheduled = start + i / rate
        delay = scheduled - time.time()
        if delay > 0:
            time.sleep(delay)
        pool.submit(one, scheduled)
warm, end = start + duration * 0.25, start + duration
answered = [r for r in results if r[2] == 200 and warm <= r[1] <= end]
latencies = sorted(r[1] - r[0] for r in results if r[2] == 200 and r[0] >= warm)
failed = sum(1 for r in results if r[2] != 200)
if not latencies:
    sys.exit(f"rate={rate} no request answered 200 ({failed} failed)")
print(f"rate={rate} answered/s={len(answered) / (end - warm):.1f} non200={failed} "
      f"p50={latencies[len(latencies) // 2] * 1000:.0f}ms p99={latencies[int(len(latencies) * 0.99)] * 1000:.0f}ms")
