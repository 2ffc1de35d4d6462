#!/usr/bin/env python3
"""Writes deploy/prometheus/nfserve-rules.test.yaml: promtool unit tests for the fleet-wide
estimation-shift recording rules and alert in deploy/prometheus/nfserve-rules.yaml.

Synthetic data, seeded and deterministic (standard library only): a small model of three
BatchNorm layers in two stages (layer1: two layers of 4 channels at 8x8, layer2: one of 3 channels
at 4x4) served by three replicas. For each replica the raw input values of every layer and channel
are drawn (each replica's traffic shifted differently), split into forward passes, and turned into
the counters a replica exports exactly as nfserve does: per pass s = sum(x - running_mean), added
to the up counter if s > 0 and -s to the down counter otherwise, the squared deviations, the
values per channel. Pass k of a replica completes at minute k+1 of the test's series.

The expected pooled esm_mean and esm_var do not come from those sums: they are computed directly
from the concatenated raw values of all replicas (float64, two-pass mean and population variance
with math.fsum), as are the per-channel mean deviation and variance and the stage mean/max. The
generator also computes each replica's own ESM, prints the average of them next to the pooled
value, and asserts that the two differ clearly (averaging per-replica ESMs is not the fleet's ESM).

How the tests compare: promtool (Debian's 2.42, the one scripts/prometheus-rules-check.sh
installs) compares exp_samples values with exact float equality, with no tolerance and no option
for one (0.5000000000000001 against 0.5 fails; a `fuzzy_compare` key is rejected as unknown).
The rules' arithmetic and this file's arithmetic round differently in the last bits, so the
expected values enter the tests as input series written with repr() precision (promtool's series
notation parses them exactly), and each check is `abs(recorded / expected - 1) < bool 1e-9`,
expected to be 1 for every series: the 1e-9 relative tolerance is the test's own, explicit.
The pooled N is an integer and is compared exactly.

Usage:
  python3 tools/fleet/make_rules_test.py           write the test file (and print the numbers)
  python3 tools/fleet/make_rules_test.py --check   regenerate into a temporary file and fail
                                                   (with a diff) if the committed one differs
Then: promtool test rules deploy/prometheus/nfserve-rules.test.yaml
(scripts/prometheus-rules-check.sh runs all of it.)
"""
import argparse
import difflib
import math
import os
import random
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "deploy", "prometheus", "nfserve-rules.test.yaml")
SEED = 20240611

MODEL = "fmnist-tiny"
STATISTICS = "9c41e07d2b5a6f13"  # content hash of the BatchNorm statistics (16 hex digits), the same on every replica
JOB = "nfserve"
INSTANCES = ["nfserve-0:8080", "nfserve-1:8080", "nfserve-2:8080"]
# (layer, group, channels, values per channel per image: H x W)
LAYERS = [
    ("layer1.0.bn1", "layer1", 4, 8 * 8),
    ("layer1.0.bn2", "layer1", 4, 8 * 8),
    ("layer2.0.bn1", "layer2", 3, 4 * 4),
]
GROUPS = ["layer1", "layer2"]
QUANTUM = 4096  # raw values are multiples of 1/4096, so every replica sum is exact in float64
MINUTES = 25  # series run from minute 0 to 25, one sample a minute
TOLERANCE = "1e-9"
# The alert, as in nfserve-rules.yaml (keep in step; the tests fail otherwise).
ALERT = "NfserveEstimationShiftHigh"
ESM_VAR_THRESHOLD = 1.0
MIN_VALUES = 10000
FOR_MINUTES = 10
SUMMARY = "{model}: BatchNorm estimation shift high in {group}"
DESCRIPTION = (
    "Pooled over every replica serving {model} with BatchNorm statistics {statistics}, the largest "
    "esm_var of a BatchNorm layer in {group} is {value} (threshold 1) and has been above the "
    "threshold for 10 minutes: the running statistics no longer match the traffic. See "
    "model_layer:nfserve_esm_var:pooled for the layers; recalibrate on representative data or find "
    "the input's shift (docs/estimation-shift.md)."
)

# Scenarios. Per replica: shift of the mean (one for all passes, or one per pass: traffic that
# drifts, so that a channel's passes land on both sides of running_mean) and scale of the spread,
# in units of the channel's running standard deviation, and the images of each forward pass. group_scale widens a stage's
# spread for every replica (a variance shift the alert should catch).
SCENARIOS = {
    "pooled": {
        "seed": 1,
        "group_scale": {"layer1": 1.0, "layer2": 1.0},
        "replicas": [
            {"shift": 0.45, "scale": 1.2, "passes": [96, 160, 64]},
            {"shift": -0.35, "scale": 0.85, "passes": [200, 120]},
            {"shift": [0.3, -0.35, 0.25, -0.2], "scale": 1.0, "passes": [40, 40, 40, 40]},
        ],
    },
    "fire": {
        "seed": 2,
        "group_scale": {"layer1": 1.9, "layer2": 1.0},
        "replicas": [
            {"shift": 0.2, "scale": 1.0, "passes": [120, 80]},
            {"shift": -0.1, "scale": 1.05, "passes": [160, 100, 60]},
            {"shift": 0.0, "scale": 0.95, "passes": [100, 120]},
        ],
    },
    "thin": {
        "seed": 3,
        "group_scale": {"layer1": 1.9, "layer2": 1.0},
        "replicas": [
            {"shift": 0.2, "scale": 1.0, "passes": [40]},
            {"shift": -0.1, "scale": 1.05, "passes": [30, 20]},
            {"shift": 0.0, "scale": 0.95, "passes": [24]},
        ],
    },
}


def running_statistics():
    """The checkpoint's running_mean and running_var per layer and channel (dyadic, exact)."""
    rng = random.Random(SEED)
    stats = {}
    for layer, _, channels, _ in LAYERS:
        stats[layer] = [(rng.randint(-64, 64) / 64, rng.randint(32, 96) / 64) for _ in range(channels)]
    return stats


def draw(scenario, stats):
    """Raw values: raw[r][p][layer][c] is the list of channel c's input values in replica r's pass p."""
    rng = random.Random(SEED * 10 + scenario["seed"])
    offsets = {layer: [rng.uniform(-0.3, 0.3) for _ in range(channels)] for layer, _, channels, _ in LAYERS}
    raw = []
    for replica in scenario["replicas"]:
        passes = []
        for p, images in enumerate(replica["passes"]):
            shift = replica["shift"][p] if isinstance(replica["shift"], list) else replica["shift"]
            one = {}
            for layer, group, channels, hw in LAYERS:
                spread = replica["scale"] * scenario["group_scale"][group]
                one[layer] = []
                for c in range(channels):
                    mean, var = stats[layer][c]
                    sd = math.sqrt(var)
                    values = []
                    for _ in range(images * hw):
                        # sum of 4 uniforms: mean 0, variance 1, bounded; exact IEEE arithmetic
                        z = (rng.random() + rng.random() + rng.random() + rng.random() - 2.0) * math.sqrt(3.0)
                        x = mean + sd * (offsets[layer][c] + shift + spread * z)
                        values.append(round(x * QUANTUM) / QUANTUM)
                    one[layer].append(values)
            passes.append(one)
        raw.append(passes)
    return raw


def replica_counters(raw, stats):
    """What each replica exports after each pass: counters[r][k] (after k passes) per layer:
    {"values": N_r, "up": [...], "down": [...], "sq": [...]}, accumulated pass by pass."""
    counters = []
    for passes in raw:
        state = {layer: {"values": 0.0, "up": [0.0] * ch, "down": [0.0] * ch, "sq": [0.0] * ch}
                 for layer, _, ch, _ in LAYERS}
        timeline = [snapshot(state)]
        for one in passes:
            for layer, _, channels, _ in LAYERS:
                entry = state[layer]
                entry["values"] += len(one[layer][0])
                for c in range(channels):
                    mean = stats[layer][c][0]
                    deviations = [x - mean for x in one[layer][c]]
                    s = math.fsum(deviations)
                    if s > 0:
                        entry["up"][c] += s
                    else:
                        entry["down"][c] += -s
                    entry["sq"][c] += math.fsum(d * d for d in deviations)
            timeline.append(snapshot(state))
        counters.append(timeline)
    return counters


def snapshot(state):
    return {layer: {key: (list(value) if isinstance(value, list) else value) for key, value in entry.items()}
            for layer, entry in state.items()}


def direct_esm(values_by_layer, stats):
    """ESM straight from raw values: per layer {"n", "d": [mu_c - rm_c], "var": [sigma2_c],
    "esm_mean", "esm_var"}, mean and biased variance two-pass with math.fsum (correctly rounded
    sums), independent of the replicas' counters."""
    result = {}
    for layer, _, channels, _ in LAYERS:
        d, var = [], []
        n = len(values_by_layer[layer][0])
        for c in range(channels):
            xs = values_by_layer[layer][c]
            mu = math.fsum(xs) / n
            # mu_c - running_mean_c as the mean of the (exact) differences: no cancellation
            d.append(math.fsum(x - stats[layer][c][0] for x in xs) / n)
            var.append(math.fsum((x - mu) ** 2 for x in xs) / n)
        result[layer] = {
            "n": n,
            "d": d,
            "var": var,
            "esm_mean": math.sqrt(math.fsum(v * v for v in d)),
            "esm_var": math.sqrt(math.fsum((stats[layer][c][1] - var[c]) ** 2 for c in range(channels))),
        }
    return result


def concatenated(raw, replicas, passes_done):
    """Channel values of the given replicas over their first passes_done[r] passes."""
    values = {layer: [[] for _ in range(ch)] for layer, _, ch, _ in LAYERS}
    for r in replicas:
        for one in raw[r][:passes_done[r]]:
            for layer, _, channels, _ in LAYERS:
                for c in range(channels):
                    values[layer][c].extend(one[layer][c])
    return values


def group_aggregates(per_layer):
    out = {}
    for group in GROUPS:
        layers = [layer for layer, g, _, _ in LAYERS if g == group]
        for statistic in ("esm_mean", "esm_var"):
            values = [per_layer[layer][statistic] for layer in layers]
            out[(group, statistic, "avg")] = math.fsum(values) / len(values)
            out[(group, statistic, "max")] = max(values)
        out[(group, "values", "min")] = min(per_layer[layer]["n"] for layer in layers)
    return out


def passes_done_at(scenario, minute):
    return [min(minute, len(replica["passes"])) for replica in scenario["replicas"]]


def analyse(scenario, raw, stats):
    """Expected pooled values at every minute (None before any traffic)."""
    by_minute = []
    last = {}
    for minute in range(MINUTES + 1):
        done = passes_done_at(scenario, minute)
        key = tuple(done)
        if key not in last:
            if sum(done) == 0:
                last[key] = None
            else:
                per_layer = direct_esm(concatenated(raw, range(len(INSTANCES)), done), stats)
                last[key] = (per_layer, group_aggregates(per_layer))
        by_minute.append(last[key])
    return by_minute


def fmt(value):
    text = repr(float(value))
    assert float(text) == value
    return text


def series_values(per_minute):
    """promtool series notation, runs of equal values as 'vxN', missing as '_'."""
    parts = []
    i = 0
    while i < len(per_minute):
        j = i
        while j + 1 < len(per_minute) and per_minute[j + 1] == per_minute[i]:
            j += 1
        token = "_" if per_minute[i] is None else fmt(per_minute[i])
        parts.append(token if j == i else f"{token}x{j - i}")
        i = j + 1
    return " ".join(parts)


def labels(**pairs):
    return "{" + ", ".join(f'{key}="{value}"' for key, value in pairs.items()) + "}"


def layer_labels(layer, group):
    return dict(model=MODEL, statistics=STATISTICS, layer=layer, group=group)


def sorted_labels(pairs):
    return labels(**dict(sorted(pairs.items())))


class Writer:
    def __init__(self):
        self.lines = []

    def __call__(self, text=""):
        self.lines.append(text)

    def text(self):
        return "\n".join(self.lines) + "\n"


def input_series(w, scenario, raw, stats, by_minute):
    counters = replica_counters(raw, stats)
    w("    input_series:")
    for r, instance in enumerate(INSTANCES):
        timeline = counters[r]
        at = [timeline[min(m, len(timeline) - 1)] for m in range(MINUTES + 1)]
        w(f"      # replica {instance}: shift {scenario['replicas'][r]['shift']}, "
          f"scale {scenario['replicas'][r]['scale']}, passes of {scenario['replicas'][r]['passes']} images")
        for layer, group, channels, _ in LAYERS:
            base = dict(instance=instance, job=JOB, **layer_labels(layer, group))
            w(f"      - series: 'nfserve_esm_values_total{labels(**base)}'")
            w(f"        values: '{series_values([a[layer]['values'] for a in at])}'")
            for c in range(channels):
                one = dict(base, channel=str(c))
                for name, key in (("nfserve_esm_deviation_up_total", "up"),
                                  ("nfserve_esm_deviation_down_total", "down"),
                                  ("nfserve_esm_squared_deviation_total", "sq")):
                    w(f"      - series: '{name}{labels(**one)}'")
                    w(f"        values: '{series_values([a[layer][key][c] for a in at])}'")
                w(f"      - series: 'nfserve_esm_running_var{labels(**one)}'")
                w(f"        values: '{series_values([stats[layer][c][1]] * (MINUTES + 1))}'")


def expected_series(w, by_minute, with_channels=True):
    w("      # Expected values, computed directly from the concatenated raw values (not the sums).")
    for layer, group, channels, _ in LAYERS:
        lab = layer_labels(layer, group)
        for statistic in ("esm_mean", "esm_var"):
            per_minute = [None if e is None else e[0][layer][statistic] for e in by_minute]
            w(f"      - series: 'expected_{statistic}{labels(**lab)}'")
            w(f"        values: '{series_values(per_minute)}'")
        for c in range(channels if with_channels else 0):
            for name, key in (("expected_mean_deviation", "d"), ("expected_variance", "var")):
                per_minute = [None if e is None else e[0][layer][key][c] for e in by_minute]
                w(f"      - series: '{name}{labels(**lab, channel=str(c))}'")
                w(f"        values: '{series_values(per_minute)}'")
    for group in GROUPS:
        lab = dict(model=MODEL, statistics=STATISTICS, group=group)
        for statistic in ("esm_mean", "esm_var"):
            for aggregate in ("avg", "max"):
                per_minute = [None if e is None else e[1][(group, statistic, aggregate)] for e in by_minute]
                w(f"      - series: 'expected_group_{statistic}_{aggregate}{labels(**lab)}'")
                w(f"        values: '{series_values(per_minute)}'")


def relative_check(w, got, expected, on, minute, outputs, comment=None):
    if comment:
        w(f"      # {comment}")
    w(f"      - expr: abs({got} / on ({', '.join(on)}) {expected} - 1) < bool {TOLERANCE}")
    w(f"        eval_time: {minute}m")
    w("        exp_samples:")
    for out in outputs:
        w(f"          - labels: '{sorted_labels(out)}'")
        w("            value: 1")


LAYER_ON = ["model", "statistics", "layer", "group"]
CHANNEL_ON = LAYER_ON + ["channel"]
GROUP_ON = ["model", "statistics", "group"]


def layer_outputs():
    return [layer_labels(layer, group) for layer, group, _, _ in LAYERS]


def channel_outputs():
    return [dict(layer_labels(layer, group), channel=str(c)) for layer, group, ch, _ in LAYERS for c in range(ch)]


def group_outputs(groups=GROUPS):
    return [dict(model=MODEL, statistics=STATISTICS, group=group) for group in groups]


def value_checks(w, by_minute, minute, channels=True):
    per_layer, groups = by_minute[minute]
    w(f"      # At {minute}m the pooled N (exact), then every recorded value against the direct one.")
    w("      - expr: model_layer:nfserve_esm_values:pooled")
    w(f"        eval_time: {minute}m")
    w("        exp_samples:")
    for layer, group, _, _ in LAYERS:
        w(f"          - labels: 'model_layer:nfserve_esm_values:pooled{sorted_labels(layer_labels(layer, group))}'")
        w(f"            value: {per_layer[layer]['n']}")
    for layer, group, _, _ in LAYERS:
        w(f"      #   {layer}: esm_mean {per_layer[layer]['esm_mean']!r}, esm_var {per_layer[layer]['esm_var']!r}")
    for statistic in ("esm_mean", "esm_var"):
        relative_check(w, f"model_layer:nfserve_{statistic}:pooled", f"expected_{statistic}", LAYER_ON, minute,
                       layer_outputs())
    if channels:
        relative_check(w, "model_layer_channel:nfserve_esm_mean_deviation:pooled", "expected_mean_deviation",
                       CHANNEL_ON, minute, channel_outputs(), "d_c = mu_c - running_mean_c")
        relative_check(w, "model_layer_channel:nfserve_esm_variance:pooled", "expected_variance",
                       CHANNEL_ON, minute, channel_outputs(), "sigma2_c, biased")
    for statistic in ("esm_mean", "esm_var"):
        for aggregate in ("avg", "max"):
            relative_check(w, f"model_group:nfserve_{statistic}:{aggregate}_pooled",
                           f"expected_group_{statistic}_{aggregate}", GROUP_ON, minute, group_outputs())


def mixed_channels(raw, stats):
    """(replica, layer, channel) whose passes went both up and down."""
    out = []
    for r, timeline in enumerate(replica_counters(raw, stats)):
        for layer, _, channels, _ in LAYERS:
            for c in range(channels):
                if timeline[-1][layer]["up"][c] > 0 and timeline[-1][layer]["down"][c] > 0:
                    out.append((INSTANCES[r], layer, c))
    return out


def check_margins(by_minute):
    """Values far from zero (relative checks) and from the alert's thresholds (no flips)."""
    for entry in by_minute:
        if entry is None:
            continue
        per_layer, groups = entry
        for layer, _, _, _ in LAYERS:
            assert per_layer[layer]["esm_mean"] > 1e-3 and per_layer[layer]["esm_var"] > 1e-3
            assert all(abs(d) > 1e-6 for d in per_layer[layer]["d"]), (layer, per_layer[layer]["d"])
        for group in GROUPS:
            assert abs(groups[(group, "esm_var", "max")] - ESM_VAR_THRESHOLD) > 0.05
            assert groups[(group, "values", "min")] != MIN_VALUES


def condition(entry, group):
    if entry is None:
        return False
    groups = entry[1]
    return groups[(group, "esm_var", "max")] > ESM_VAR_THRESHOLD and groups[(group, "values", "min")] >= MIN_VALUES


def alert_value(value):
    text = "%.3f" % value
    # the promtool side formats its own float; a last-bit difference must not change the text
    assert "%.3f" % (value * (1 + 1e-12)) == text == "%.3f" % (value * (1 - 1e-12))
    return text


def pooled_vs_average(raw, stats, scenario, log):
    """The pooled ESM against the average of the replicas' own ESMs, after all passes."""
    every = [len(r["passes"]) for r in scenario["replicas"]]
    pooled = direct_esm(concatenated(raw, range(len(INSTANCES)), every), stats)
    own = [direct_esm(concatenated(raw, [r], every), stats) for r in range(len(INSTANCES))]
    rows = []
    log(f"{'layer':14} {'statistic':9} {'pooled':>10} {'avg of replicas':>16} "
        + " ".join(f"{i:>15}" for i in INSTANCES))
    for layer, group, _, _ in LAYERS:
        for statistic in ("esm_mean", "esm_var"):
            each = [o[layer][statistic] for o in own]
            average = math.fsum(each) / len(each)
            value = pooled[layer][statistic]
            log(f"{layer:14} {statistic:9} {value:10.6f} {average:16.6f} " + " ".join(f"{v:15.6f}" for v in each))
            # the point of pooling: the fleet's ESM is not the replicas' average
            assert abs(value / average - 1) > 0.1, (layer, statistic, value, average)
            rows.append((layer, group, statistic, value, average))
    return rows


def generate(log):
    stats = running_statistics()
    w = Writer()
    w("# promtool unit tests for deploy/prometheus/nfserve-rules.yaml: the pooled (fleet-wide)")
    w("# BatchNorm estimation shift and the NfserveEstimationShiftHigh alert.")
    w("# GENERATED by tools/fleet/make_rules_test.py (seeded): do not edit; change the generator and")
    w("# run it again. `python3 tools/fleet/make_rules_test.py --check` fails when this file is stale.")
    w("#   promtool test rules deploy/prometheus/nfserve-rules.test.yaml")
    w("# Three replicas of a 3-layer model; their counters are built from seeded raw values, and the")
    w("# expected values (input series expected_*) are computed directly from the raw values of all")
    w("# replicas together. promtool compares exp_samples with exact float equality, so each check is")
    w(f"# abs(recorded / expected - 1) < bool {TOLERANCE}, expected 1: a {TOLERANCE} relative tolerance.")
    w("rule_files:")
    w("  - nfserve-rules.yaml")
    w("evaluation_interval: 1m")
    w("# The alert reads the records of the same evaluation (Prometheus itself runs the groups apart).")
    w("group_eval_order:")
    w("  - nfserve-esm-pooled")
    w("  - nfserve-esm-alerts")
    w("tests:")

    # 1. pooled values, at a partial and the final state; pooled differs from the average
    scenario = SCENARIOS["pooled"]
    raw = draw(scenario, stats)
    by_minute = analyse(scenario, raw, stats)
    check_margins(by_minute)
    assert not any(condition(by_minute[-1], g) for g in GROUPS)
    mixed = mixed_channels(raw, stats)
    assert len(mixed) >= 4, mixed  # the up/down split is exercised, not just one side
    log(f"scenario 'pooled': {len(mixed)} replica channels with both up and down counts")
    log("scenario 'pooled' (after all passes): pooled ESM against the average of per-replica ESMs")
    rows = pooled_vs_average(raw, stats, scenario, log)
    w()
    w("  # Pooled esm_mean/esm_var of three replicas whose traffic is shifted differently. After all")
    w("  # passes, pooled against the average of each replica's own ESM (which the rules must not compute):")
    for layer, _, statistic, value, average in rows:
        w(f"  #   {layer} {statistic}: pooled {value:.6f}, average of replicas {average:.6f}")
    w("  - interval: 1m")
    input_series(w, scenario, raw, stats, by_minute)
    expected_series(w, by_minute)
    for layer, group, statistic, value, average in rows:
        w(f"      - series: 'replica_average_{statistic}{labels(**layer_labels(layer, group))}'")
        w(f"        values: '{series_values([average] * (MINUTES + 1))}'")
    w("    promql_expr_test:")
    w("      # Before any pass nothing is recorded (N = 0 gives no sample).")
    w("      - expr: model_layer:nfserve_esm_mean:pooled")
    w("        eval_time: 0m")
    w("        exp_samples: []")
    partial = 2
    assert by_minute[partial] != by_minute[-1]
    value_checks(w, by_minute, partial, channels=False)
    value_checks(w, by_minute, 10)
    for statistic in ("esm_mean", "esm_var"):
        w(f"      # The pooled {statistic} is not the replicas' average: more than 10% apart.")
        w(f"      - expr: abs(model_layer:nfserve_{statistic}:pooled / on ({', '.join(LAYER_ON)}) "
          f"replica_average_{statistic} - 1) > bool 0.1")
        w("        eval_time: 10m")
        w("        exp_samples:")
        for out in layer_outputs():
            w(f"          - labels: '{sorted_labels(out)}'")
            w("            value: 1")
    w("    alert_rule_test:")
    w(f"      # Low shift (every stage's esm_var max below {ESM_VAR_THRESHOLD:g}), enough data: no alert.")
    w(f"      - alertname: {ALERT}")
    w("        eval_time: 20m")
    w("        exp_alerts: []")

    # 2. the alert fires for the shifted stage only, after `for`
    scenario = SCENARIOS["fire"]
    raw = draw(scenario, stats)
    by_minute = analyse(scenario, raw, stats)
    check_margins(by_minute)
    on = [condition(e, "layer1") for e in by_minute]
    start = on.index(True)
    assert all(on[start:]) and not any(condition(e, "layer2") for e in by_minute)
    final = by_minute[-1][1]
    log(f"scenario 'fire': layer1 esm_var max {final[('layer1', 'esm_var', 'max')]:.6f} "
        f"(N min {final[('layer1', 'values', 'min')]}), layer2 {final[('layer2', 'esm_var', 'max')]:.6f} "
        f"(N min {final[('layer2', 'values', 'min')]}); condition from {start}m")
    w()
    w("  # The alert: layer1's spread widened on every replica (esm_var max "
      f"{final[('layer1', 'esm_var', 'max')]:.3f}), layer2 not")
    w(f"  # ({final[('layer2', 'esm_var', 'max')]:.3f}); enough values in both. The condition holds from "
      f"{start}m, so the alert is pending")
    w(f"  # until {start + FOR_MINUTES}m and fires after.")
    w("  - interval: 1m")
    input_series(w, scenario, raw, stats, by_minute)
    expected_series(w, by_minute, with_channels=False)
    w("    promql_expr_test:")
    value_checks(w, by_minute, start + FOR_MINUTES + 1, channels=False)
    w("    alert_rule_test:")
    w(f"      - alertname: {ALERT}")
    w(f"        eval_time: {start + FOR_MINUTES - 1}m")
    w("        exp_alerts: []")
    w(f"      - alertname: {ALERT}")
    w(f"        eval_time: {start + FOR_MINUTES + 1}m")
    w("        exp_alerts:")
    w("          - exp_labels:")
    w("              severity: warning")
    w(f"              model: {MODEL}")
    w(f'              statistics: "{STATISTICS}"')
    w("              group: layer1")
    w("            exp_annotations:")
    w(f'              summary: "{SUMMARY.format(model=MODEL, group="layer1")}"')
    value = alert_value(by_minute[start + FOR_MINUTES + 1][1][("layer1", "esm_var", "max")])
    w(f'              description: "{DESCRIPTION.format(model=MODEL, statistics=STATISTICS, group="layer1", value=value)}"')

    # 3. too little data: the same shift, N below the minimum
    scenario = SCENARIOS["thin"]
    raw = draw(scenario, stats)
    by_minute = analyse(scenario, raw, stats)
    check_margins(by_minute)
    final = by_minute[-1][1]
    assert final[("layer1", "esm_var", "max")] > ESM_VAR_THRESHOLD
    assert all(final[(g, "values", "min")] < MIN_VALUES for g in GROUPS)
    log(f"scenario 'thin': layer1 esm_var max {final[('layer1', 'esm_var', 'max')]:.6f} "
        f"with N min {final[('layer1', 'values', 'min')]} < {MIN_VALUES}: no alert")
    w()
    w(f"  # Too little data: layer1's esm_var max is {final[('layer1', 'esm_var', 'max')]:.3f} but its N "
      f"{final[('layer1', 'values', 'min')]} < {MIN_VALUES}: no alert.")
    w("  - interval: 1m")
    input_series(w, scenario, raw, stats, by_minute)
    w("    promql_expr_test:")
    w(f"      - expr: model_group:nfserve_esm_var:max_pooled > bool {ESM_VAR_THRESHOLD:g}")
    w("        eval_time: 20m")
    w("        exp_samples:")
    for out in group_outputs():
        w(f"          - labels: '{sorted_labels(out)}'")
        w(f"            value: {1 if final[(out['group'], 'esm_var', 'max')] > ESM_VAR_THRESHOLD else 0}")
    w("    alert_rule_test:")
    w(f"      - alertname: {ALERT}")
    w("        eval_time: 20m")
    w("        exp_alerts: []")
    return w.text()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed file is stale")
    args = parser.parse_args()
    if args.check:
        text = generate(lambda line: None)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
            handle.write(text)
            fresh = handle.name
        try:
            with open(fresh) as a:
                new = a.read()
            old = open(OUT).read() if os.path.exists(OUT) else ""
        finally:
            os.unlink(fresh)
        if new != old:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                       os.path.relpath(OUT, ROOT), "regenerated", n=1))
            print(f"{os.path.relpath(OUT, ROOT)} is stale: run python3 tools/fleet/make_rules_test.py",
                  file=sys.stderr)
            return 1
        print(f"{os.path.relpath(OUT, ROOT)} is up to date")
        return 0
    text = generate(print)
    with open(OUT, "w") as handle:
        handle.write(text)
    print(f"wrote {os.path.relpath(OUT, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
