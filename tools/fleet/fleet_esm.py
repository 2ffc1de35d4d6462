#!/usr/bin/env python3
"""The fleet-wide estimation shift (ESM) check of scripts/cluster-rehearsal.sh --prometheus.

Replicas started with `--esm-export channel --live-esm-budget all` export raw per-channel BatchNorm
sums on /metrics; deploy/prometheus/nfserve-rules.yaml adds them over the replicas into the pooled
ESM (model_layer:nfserve_esm_mean:pooled, ...:esm_var:pooled). This checks that the pooled ESM
of images spread over the replicas equals what one process computes over the same images, and
shows that averaging the replicas' own ESMs does not give it.

  1. waits until every replica's live sums stop changing (merges of earlier traffic run after
     the answer), then empties them: POST /diagnostics/esm/reset (admin token), 204 each;
  2. PUTs every PNG of DATASET_DIR once to the balancer (all must be 200), and waits until the
     replicas' live `images` add up to that number;
  3. asks the reference process (not behind the balancer) for the dataset's ESM;
  4. waits for a rule evaluation whose pooled value count per layer equals the sum of the
     replicas' own nfserve_esm_values_total read after the last merge (so it saw every replica's
     final sums); reads the pooled ESM recorded at that evaluation;
  5. compares every BatchNorm layer's esm_mean and esm_var: pooled against reference (relative
     difference at most --tolerance, else exit 1), and the replicas' average against reference
     (printed only).

The admin token comes from the environment (NFSERVE_ADMIN_TOKEN), never from the command line.
Standard library only.

Usage: tools/fleet/fleet_esm.py --replicas P1,P2,P3 --balancer P --reference P --prometheus P
                                --model M --dataset NAME --dataset-dir DIR [--tolerance 1e-6]
"""
import argparse
import glob
import http.client
import json
import math
import os
import re
import sys
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--replicas", required=True, help="the replicas' HTTP ports, comma-separated")
parser.add_argument("--balancer", type=int, required=True)
parser.add_argument("--reference", type=int, required=True)
parser.add_argument("--prometheus", type=int, required=True)
parser.add_argument("--model", required=True)
parser.add_argument("--dataset", required=True, help="the dataset's name on the reference process")
parser.add_argument("--dataset-dir", required=True, help="the same dataset's folder: its */*.png are sent")
parser.add_argument("--tolerance", type=float, default=1e-6)
parser.add_argument("--deadline", type=float, default=120.0, help="seconds each wait may take")
args = parser.parse_args()
replicas = [int(p) for p in args.replicas.split(",")]
token = os.environ.get("NFSERVE_ADMIN_TOKEN", "")
model = args.model


def fail(message):
    print(f"fleet-esm: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def request(port, method, path, body=None, headers=None, timeout=30):
    """(status, body bytes); each request on its own connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers={"Connection": "close", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def get_json(port, path):
    status, body = request(port, "GET", path)
    if status != 200:
        fail(f"GET :{port}{path} answered {status}: {body[:200]!r}")
    return json.loads(body)


def live(port):
    return get_json(port, f"/diagnostics/esm?model={model}&source=live")


def poll(what, check, interval=0.2):
    """Calls check() until it returns something other than None, for at most --deadline seconds."""
    deadline = time.time() + args.deadline
    while True:
        result = check()
        if result is not None:
            return result
        if time.time() > deadline:
            fail(f"timed out after {args.deadline:.0f} s waiting for {what}")
        time.sleep(interval)


# 1. Empty the live sums once the merges of the load before have landed.
previous = [None]


def settled():
    counts = [live(port)["images"] for port in replicas]
    same = counts == previous[0]
    previous[0] = counts
    return counts if same else None


poll("the replicas' live sums to stop changing", settled, interval=0.5)
for port in replicas:
    status, body = request(port, "POST", f"/diagnostics/esm/reset?model={model}",
                           headers={"Authorization": f"Bearer {token}"})
    if status != 204:
        fail(f"POST :{port}/diagnostics/esm/reset answered {status} (204 expected): {body[:200]!r}")
leftover = [live(port)["images"] for port in replicas]
if any(leftover):
    fail(f"live sums not empty right after the reset: {leftover}")

# 2. Every image once through the balancer.
files = sorted(glob.glob(os.path.join(args.dataset_dir, "*", "*.png")))
if not files:
    fail(f"no PNG under {args.dataset_dir}/*/")


def send(path):
    with open(path, "rb") as f:
        status, body = request(args.balancer, "PUT", f"/predictions/{model}", body=f.read(),
                               headers={"Content-Type": "image/png"})
    return path, status, body


with ThreadPoolExecutor(max_workers=4) as pool:
    answers = list(pool.map(send, files))
bad = [(path, status, body[:120]) for path, status, body in answers if status != 200]
if bad:
    fail(f"{len(bad)} of {len(files)} images not answered 200, e.g. {bad[:3]}")
n = len(files)


def merged():
    reports = [live(port) for port in replicas]
    total = sum(r["images"] for r in reports)
    if total > n:
        fail(f"the replicas' live sums hold {total} images, more than the {n} sent")
    return reports if total == n else None


reports = poll(f"the replicas' live sums to hold all {n} images", merged)
per_replica = [r["images"] for r in reports]


# The replicas' own value counts per layer, read from /metrics after the last merge: what the
# pooled N must equal once Prometheus has scraped everything.
def values_total(port):
    status, body = request(port, "GET", "/metrics")
    if status != 200:
        fail(f"GET :{port}/metrics answered {status}")
    counts = {}
    for line in body.decode().splitlines():
        match = re.match(r'nfserve_esm_values_total\{([^}]*)\} (\S+)$', line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
            if labels.get("model") == model:
                counts[labels["layer"]] = float(match.group(2))
    return counts


expected_n = {}
for port in replicas:
    for layer, count in values_total(port).items():
        expected_n[layer] = expected_n.get(layer, 0.0) + count
merged_at = time.time()

# 3. One process given the same images.
def reference_ready():
    try:
        return True if request(args.reference, "GET", "/v2/health/ready", timeout=5)[0] == 200 else None
    except OSError:
        return None


poll("the reference process to be ready", reference_ready)
reference = get_json(args.reference, f"/diagnostics/esm?model={model}&dataset={urllib.parse.quote(args.dataset)}")
if reference["images"] != n:
    fail(f"the reference measured {reference['images']} images, {n} expected")


# 4. The pooled ESM from a rule evaluation that saw every replica's final sums.
def query(expr, at):
    path = "/api/v1/query?" + urllib.parse.urlencode({"query": expr, "time": at})
    answer = get_json(args.prometheus, path)
    if answer.get("status") != "success":
        fail(f"Prometheus query {expr!r}: {answer}")
    return answer["data"]["result"]


selector = f'{{model="{model}"}}'


def evaluation():
    # Query a second in the past: an evaluation stamped before that has been committed, so the
    # queries below, all at one evaluation's own timestamp, read the same evaluation.
    stamps = query(f"timestamp(model_layer:nfserve_esm_values:pooled{selector})", f"{time.time() - 1:.3f}")
    if not stamps:
        return None
    evaluated = max(float(s["value"][1]) for s in stamps)
    at = f"{evaluated:.3f}"
    # That evaluation saw every replica's final sums when its pooled N per layer is the sum of the
    # replicas' own counts read after the last merge (checked below): a replica's values and its
    # sums are read together at each scrape, the counts only grow from the reset on, and a replica
    # whose scrape failed is missing from the sum. (Scrape timestamps are not compared: under a
    # loaded machine a debug build's scrape may take a second or two.)
    pooled = {}
    for name, expr in (("values", "model_layer:nfserve_esm_values:pooled"),
                       ("esm_mean", "model_layer:nfserve_esm_mean:pooled"),
                       ("esm_var", "model_layer:nfserve_esm_var:pooled")):
        # Every series read must have been written by that same evaluation.
        if any(abs(float(s["value"][1]) - evaluated) > 1e-3 for s in query(f"timestamp({expr}{selector})", at)):
            return None
        for sample in query(f"{expr}{selector}", at):
            pooled.setdefault(sample["metric"]["layer"], {})[name] = float(sample["value"][1])
    if {layer: p.get("values") for layer, p in pooled.items()} != expected_n:
        return None
    return evaluated, pooled


evaluated, pooled = poll("a rule evaluation after the last scrape of the final sums", evaluation, interval=0.5)

# 5. Compare every BatchNorm layer.


def relative(a, b):
    return abs(a - b) / abs(b) if b != 0 else abs(a - b)


worst_pooled = (0.0, None)
worst_average = (0.0, None)
compared = 0
for index, layer in enumerate(reference["layers"]):
    if layer["kind"] != "batchnorm" or layer["esm_mean"] is None:
        continue  # GroupNorm layers have no running statistics
    name = layer["name"]
    if name not in pooled or "esm_mean" not in pooled[name] or "esm_var" not in pooled[name]:
        fail(f"no pooled ESM for layer {name} in Prometheus")
    compared += 1
    for statistic in ("esm_mean", "esm_var"):
        want = layer[statistic]
        got = pooled[name][statistic]
        if worst_pooled[1] is None or relative(got, want) > worst_pooled[0]:
            worst_pooled = (relative(got, want), f"{name} {statistic}: pooled {got!r}, reference {want!r}")
        own = [r["layers"][index] for r in reports]
        if any(o["name"] != name for o in own):
            fail(f"layer order differs between the reference and the replicas at index {index}")
        average = math.fsum(o[statistic] for o in own) / len(own)
        if worst_average[1] is None or relative(average, want) > worst_average[0]:
            worst_average = (relative(average, want), f"{name} {statistic}: average {average!r}, reference {want!r}")
if compared == 0:
    fail("no BatchNorm layer to compare")

stamp = time.strftime("%H:%M:%S", time.gmtime(evaluated)) + f".{int(evaluated * 1000) % 1000:03d}Z"
print(f"fleet-esm: {compared} BatchNorm layers (esm_mean and esm_var), {n} images over the replicas as "
      f"{'+'.join(map(str, per_replica))}; pooled vs reference max relative difference {worst_pooled[0]:.3g} "
      f"(tolerance {args.tolerance:g}); average of the replicas' own ESMs vs reference {worst_average[0]:.3g}; "
      f"Prometheus rule evaluation at {stamp}, {evaluated - merged_at:.1f} s after the last merge")
print(f"fleet-esm:   worst pooled: {worst_pooled[1]}")
print(f"fleet-esm:   worst average: {worst_average[1]}")
if worst_pooled[0] > args.tolerance:
    fail(f"the pooled ESM differs from one process's by {worst_pooled[0]:.3g} > {args.tolerance:g}")
