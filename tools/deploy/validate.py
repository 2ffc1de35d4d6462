#!/usr/bin/env python3
"""Validates every Kubernetes and KServe manifest under deploy/, offline (no cluster).

    python3 tools/deploy/validate.py [ROOT] [--nfserve PATH] [--kubernetes-version 1.31]

ROOT defaults to deploy/ (its prometheus/ folder has its own checker and is skipped). Prints one
line per problem and exits 1, else prints "deploy ok: ..." and exits 0. Needs yamllint,
kubernetes-validate, kubernetes and kserve==0.20.0 (scripts/deploy-check.sh installs them into a
virtual environment and runs this with it).

What it checks, for every YAML document:
- yamllint, strict (warnings fail too), with ROOT/.yamllint when there is one;
- Kubernetes' own kinds (Deployment, Service, PodDisruptionBudget, HorizontalPodAutoscaler,
  ConfigMap, ServiceAccount, ...) with kubernetes-validate's strict schemas (unknown fields
  rejected) for the Kubernetes version given (default 1.31: the oldest we write for; newer API
  servers accept a superset);
- KServe's kinds (ClusterServingRuntime, ServingRuntime, InferenceService, ...) against the field
  tables of the kserve==0.20.0 SDK: each model class has `openapi_types` (field -> type such as
  'V1beta1PredictorSpec', 'list[V1Container]', 'dict(str, str)', 'int') and `attribute_map`
  (field -> JSON key). The document is walked from the kind's class down, nested Kubernetes
  types through the `kubernetes` client's classes the same way: a key that is not a JSON key of
  the class at that place, or a value of the wrong type, is a problem. The tables are read at run
  time from the installed, pinned SDK: nothing of KServe's is copied into this repository;
- KEDA's ScaledObject against a small schema written below from KEDA's documented fields
  (ScaledObject spec and the prometheus scaler's metadata), unknown fields rejected the same way;
- cross-checks between documents and with the repository: probe paths are paths of
  docs/openapi.yaml (or /metrics) on a declared container port; the ports of --port/--grpc-port
  (else the image's NFSERVE_PORT/NFSERVE_GRPC_PORT from the Dockerfile) are declared;
  terminationGracePeriodSeconds >= --shutdown-delay + --shutdown-grace + 5 s (nfserve's own
  deadline to exit, docs/operations.md); an InferenceService's runtime is defined here and
  supports its model format and protocol; Prometheus annotations name the HTTP port and
  /metrics; Services, PodDisruptionBudgets and autoscalers point at a workload defined here and
  at its ports; the HPA's custom metrics are published by the prometheus-adapter rules here;
  nfserve containers run as the Dockerfile's user, non-root, read-only, without capabilities;
  with --nfserve, every --flag of nfserve's args is one `nfserve serve --help` lists.
"""
import argparse
import difflib
import importlib
import importlib.metadata
import importlib.util
import pathlib
import pkgutil
import re
import subprocess
import sys
import types

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
KSERVE_VERSION = "0.20.0"
# nfserve's own deadline: it exits 1 if anything still runs delay + grace + this after SIGTERM
# (docs/operations.md, Shutdown); Kubernetes' SIGKILL must come after it.
EXIT_MARGIN_S = 5
DEFAULT_TGPS = 30  # Kubernetes' default terminationGracePeriodSeconds
DEFAULT_DELAY, DEFAULT_GRACE = 0.0, 25.0  # nfserve serve's defaults
NOTICES = []


# ---------------------------------------------------------------- documents

class Doc:
    """One YAML document: where it is and what it holds."""

    def __init__(self, rel, index, data):
        self.rel, self.index, self.data = rel, index, data
        self.kind = data.get("kind", "")
        self.api = data.get("apiVersion", "")
        self.name = (data.get("metadata") or {}).get("name", "")

    def where(self, path=""):
        label = f"{self.kind or '?'}/{self.name or '?'}"
        return f"{self.rel}: {label}: {path}: " if path else f"{self.rel}: {label}: "

    def get(self, *keys, default=None):
        """The value at a chain of keys/indexes, or default where any is missing."""
        value = self.data
        for key in keys:
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                return default
        return default if value is None else value


def discover(root):
    """The YAML files under root, skipping root/prometheus (it has its own checker)."""
    skip = root / "prometheus"
    files = [p for p in sorted(root.rglob("*")) if p.suffix in (".yaml", ".yml") and p.is_file()]
    return [p for p in files if skip not in p.parents]


def display(path):
    try:
        return str(path.resolve().relative_to(pathlib.Path.cwd()))
    except ValueError:
        return str(path)


def load(files, problems):
    docs = []
    for path in files:
        rel = display(path)
        try:
            parsed = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except yaml.YAMLError as error:
            problems.append(f"{rel}: not YAML: {' '.join(str(error).split())}")
            continue
        for index, data in enumerate(parsed):
            if data is None:
                continue
            if not isinstance(data, dict) or "kind" not in data or "apiVersion" not in data:
                problems.append(f"{rel}: document {index + 1} is not a Kubernetes object (no kind/apiVersion)")
                continue
            docs.append(Doc(rel, index, data))
    return docs


# ---------------------------------------------------------------- yamllint

def lint(files, root, problems):
    from yamllint import linter
    from yamllint.config import YamlLintConfig

    config_file = root / ".yamllint"
    conf = YamlLintConfig(file=str(config_file)) if config_file.is_file() else YamlLintConfig("extends: default")
    for path in files:
        # Strict, as `yamllint -s`: a warning is a problem too.
        for p in linter.run(path.read_text(encoding="utf-8"), conf, str(path)):
            problems.append(f"{display(path)}:{p.line}:{p.column}: yamllint: {p.desc} ({p.rule})")


# ---------------------------------------------------------------- Kubernetes' own kinds

def is_core(api):
    group = api.split("/")[0] if "/" in api else ""
    return "." not in group or group.endswith(".k8s.io")


def check_core(doc, version, problems):
    import kubernetes_validate

    try:
        kubernetes_validate.validate(doc.data, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(p) for p in error.path) or "(document)"
        problems.append(doc.where(path) + f"kubernetes-validate {error.version} --strict: {error.message}")
    except kubernetes_validate.SchemaNotFoundError as error:
        problems.append(doc.where() + f"kubernetes-validate: {error.message}")


def check_version(version):
    """Exits unless kubernetes-validate ships schemas for this Kubernetes version (major.minor)."""
    from kubernetes_validate import utils

    known = sorted({utils.major_minor(v) for v in utils.all_versions()}, key=lambda v: tuple(map(int, v.split("."))))
    if utils.major_minor(version.lstrip("v")) not in known:
        raise SystemExit(f"validate.py: kubernetes-validate has no schemas for Kubernetes {version} "
                         f"(it has {known[0]} to {known[-1]})")


# ---------------------------------------------------------------- typed walk (KServe SDK, KEDA)

LIST = re.compile(r"^list\[(.+)\]$")
DICT = re.compile(r"^dict\(([^,]+),\s*(.+)\)$")
# Types the API server spells K8sIoApi<Group><Version><Kind>; the kubernetes client: <Version><Kind>.
K8S_ALIAS = re.compile(r"^K8sIoApi[A-Z][a-z]+(V\d+(?:alpha\d+|beta\d+)?)([A-Z]\w*)$")
QUANTITY = "quantity"  # resource.Quantity: "2", 2, "1Gi", 0.5
# Where the SDKs say 'str' (or a type they do not define) for a quantity, which YAML may write as
# a number.
QUANTITY_FIELDS = {("V1ResourceRequirements", "limits"): "dict(str, quantity)",
                   ("V1ResourceRequirements", "requests"): "dict(str, quantity)",
                   ("V1EmptyDirVolumeSource", "sizeLimit"): QUANTITY}
QUANTITY_TYPES = {"ResourceQuantity", "V1beta1MetricQuantity"}

# KEDA's ScaledObject (keda.sh/v1alpha1), from KEDA's documented fields: KEDA publishes no Python
# package to read them from. Each entry: (JSON key -> type, required keys).
KEDA_TYPES = {
    "KedaScaledObject": ({"apiVersion": "str", "kind": "str", "metadata": "V1ObjectMeta",
                          "spec": "KedaScaledObjectSpec", "status": "object"}, {"metadata", "spec"}),
    "KedaScaledObjectSpec": ({"scaleTargetRef": "KedaScaleTarget", "pollingInterval": "int",
                              "cooldownPeriod": "int", "initialCooldownPeriod": "int",
                              "idleReplicaCount": "int", "minReplicaCount": "int", "maxReplicaCount": "int",
                              "fallback": "KedaFallback", "advanced": "KedaAdvanced",
                              "triggers": "list[KedaTrigger]"}, {"scaleTargetRef", "triggers"}),
    "KedaScaleTarget": ({"apiVersion": "str", "kind": "str", "name": "str",
                         "envSourceContainerName": "str"}, {"name"}),
    "KedaFallback": ({"failureThreshold": "int", "replicas": "int", "behavior": "str"},
                     {"failureThreshold", "replicas"}),
    "KedaAdvanced": ({"restoreToOriginalReplicaCount": "bool", "horizontalPodAutoscalerConfig": "KedaHPAConfig",
                      "scalingModifiers": "KedaScalingModifiers"}, set()),
    "KedaHPAConfig": ({"name": "str", "behavior": "V2HorizontalPodAutoscalerBehavior"}, set()),
    "KedaScalingModifiers": ({"formula": "str", "target": "str", "activationTarget": "str",
                              "metricType": "str"}, set()),
    # metadata is map[string]string in KEDA: a number there must be quoted.
    "KedaTrigger": ({"type": "str", "name": "str", "metadata": "dict(str, str)",
                     "authenticationRef": "KedaAuthenticationRef", "metricType": "str",
                     "useCachedMetrics": "bool"}, {"type", "metadata"}),
    "KedaAuthenticationRef": ({"name": "str", "kind": "str"}, {"name"}),
}
# The prometheus scaler's metadata keys (KEDA's scaler documentation), and those it requires.
KEDA_PROMETHEUS_KEYS = {"serverAddress", "query", "threshold", "activationThreshold", "namespace",
                        "customHeaders", "ignoreNullValues", "queryParameters", "unsafeSsl", "timeout",
                        "authModes"}
KEDA_PROMETHEUS_REQUIRED = {"serverAddress", "query", "threshold"}


class Types:
    """Field tables by type name: the kserve SDK's and kubernetes client's classes, and KEDA's."""

    def __init__(self):
        self.tables = {name: fields for name, (fields, _) in KEDA_TYPES.items()}
        self.required = {name: req for name, (_, req) in KEDA_TYPES.items()}

    def add_classes(self, module):
        for name, cls in vars(module).items():
            if isinstance(cls, type) and isinstance(getattr(cls, "openapi_types", None), dict):
                fields = {cls.attribute_map[attr]: QUANTITY_FIELDS.get((name, cls.attribute_map[attr]), typ)
                          for attr, typ in cls.openapi_types.items()}
                self.tables.setdefault(name, fields)

    def fields(self, name):
        alias = K8S_ALIAS.match(name)
        if name not in self.tables and alias:
            name = alias.group(1) + alias.group(2)
        return self.tables.get(name)


def load_sdk_types():
    """The field tables of the installed kserve SDK (must be 0.20.0) and kubernetes client."""
    try:
        found = importlib.metadata.version("kserve")
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit("validate.py: the kserve SDK is not installed (scripts/deploy-check.sh installs "
                         f"kserve=={KSERVE_VERSION})")
    if found != KSERVE_VERSION:
        raise SystemExit(f"validate.py: kserve {found} is installed; the manifests are written for {KSERVE_VERSION}")
    # kserve/__init__.py imports the model server (FastAPI, uvicorn, pandas, ...); only the
    # generated models are needed, so kserve is entered as a bare package and its models
    # imported from it: installed with or without its dependencies, the tables are the same.
    if "kserve" not in sys.modules:
        package = types.ModuleType("kserve")
        package.__path__ = list(importlib.util.find_spec("kserve").submodule_search_locations)
        sys.modules["kserve"] = package
    import kserve.models
    import kubernetes.client.models

    table = Types()
    for info in pkgutil.iter_modules(kserve.models.__path__):  # the package's __init__ omits some
        table.add_classes(importlib.import_module(f"kserve.models.{info.name}"))
    table.add_classes(kubernetes.client.models)
    return table


def kind_of(value):
    return type(value).__name__.replace("NoneType", "null")


def check_scalar(value, typ):
    """None when value fits the scalar type typ, else what was expected; False: not a scalar type."""
    if typ == "object":
        return None
    if typ == "str":
        return None if isinstance(value, str) else "a string"
    if typ == "bool":
        return None if isinstance(value, bool) else "a boolean"
    if typ == "int":
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if typ == "float":
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "a number"
    if typ in ("date", "datetime"):
        return None if isinstance(value, str) or hasattr(value, "isoformat") else "a date"
    if typ == QUANTITY or typ in QUANTITY_TYPES:
        ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
        return None if ok else "a quantity"
    return False


def walk(value, typ, path, out, table):
    """Appends (path, message) to out for every key or value that does not fit typ."""
    typ = typ.strip()
    if value is None:
        out.append((path, "empty (null) value"))
        return
    if m := LIST.match(typ):
        if not isinstance(value, list):
            out.append((path, f"expected a list ({typ}), got {kind_of(value)}"))
            return
        for i, item in enumerate(value):
            walk(item, m.group(1), f"{path}[{i}]", out, table)
        return
    if m := DICT.match(typ):
        if not isinstance(value, dict):
            out.append((path, f"expected a map ({typ}), got {kind_of(value)}"))
            return
        for key, item in value.items():
            walk(item, m.group(2), f"{path}.{key}", out, table)
        return
    expected = check_scalar(value, typ)
    if expected is not False:
        if expected:
            out.append((path, f"expected {expected} ({typ}), got {kind_of(value)} {value!r}"))
        return
    fields = table.fields(typ)
    if fields is None:
        return  # a type neither SDK defines (e.g. V1alpha1WorkerSpec): anything goes
    if not isinstance(value, dict):
        out.append((path, f"expected an object ({typ}), got {kind_of(value)}"))
        return
    for key, item in value.items():
        sub = f"{path}.{key}" if path else str(key)
        if key not in fields:
            near = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            out.append((sub, f"unknown field '{key}' (not in {typ}){hint}"))
        else:
            walk(item, fields[key], sub, out, table)
    for key in sorted(table.required.get(typ, set()) - set(value)):
        out.append((f"{path}.{key}" if path else key, f"required field of {typ} missing"))


def sdk_class(doc):
    """kserve's class name for a serving.kserve.io document: v1beta1 + InferenceService."""
    version = doc.api.split("/")[-1]
    return version[:1].upper() + version[1:] + doc.kind


def check_typed(doc, root_type, table, problems):
    if table.fields(root_type) is None:
        problems.append(doc.where() + f"no schema for {doc.api} {doc.kind} (no class {root_type})")
        return
    out = []
    walk(doc.data, root_type, "", out, table)
    problems.extend(doc.where(path) + message for path, message in out)


# ---------------------------------------------------------------- nfserve's containers

def is_nfserve(container):
    image = str(container.get("image", ""))
    return re.split(r"[:@]", image.rsplit("/", 1)[-1])[0] == "nfserve"


def flag_values(args):
    """--flag VALUE and --flag=VALUE pairs of an argument list; the last occurrence wins."""
    values, i = {}, 0
    while i < len(args):
        arg = str(args[i])
        if arg.startswith("--") and "=" in arg:
            key, value = arg.split("=", 1)
            values[key] = value
        elif arg.startswith("--") and i + 1 < len(args) and not str(args[i + 1]).startswith("--"):
            values[arg] = str(args[i + 1])
            i += 1
        i += 1
    return values


def seconds(values, flag, default, where, problems):
    try:
        return float(values.get(flag, default))
    except ValueError:
        problems.append(where + f"{flag} {values[flag]!r} is not a number of seconds")
        return default


class Context:
    """What the cross-checks compare against: the repository's files and nfserve's help."""

    def __init__(self, openapi, dockerfile, help_flags):
        spec = yaml.safe_load(openapi.read_text(encoding="utf-8"))
        self.paths = set(spec.get("paths", {})) | {"/metrics"}
        text = dockerfile.read_text(encoding="utf-8") if dockerfile.is_file() else ""
        self.uid = int(m.group(1)) if (m := re.search(r"--uid\s+(\d+)", text)) else None
        self.http_port = int(m.group(1)) if (m := re.search(r"\bNFSERVE_PORT=(\d+)", text)) else 8080
        self.grpc_port = int(m.group(1)) if (m := re.search(r"\bNFSERVE_GRPC_PORT=(\d+)", text)) else 8081
        self.help_flags = help_flags


def help_flags(binary):
    """The flags `nfserve serve --help` lists, or None (with a notice) without a binary."""
    if not binary or not pathlib.Path(binary).is_file():
        NOTICES.append(f"notice: no nfserve binary{' at ' + binary if binary else ''}: "
                       "container args not checked against `nfserve serve --help`")
        return None
    run = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True, timeout=60)
    return set(re.findall(r"--[a-z0-9][a-z0-9-]*", run.stdout + run.stderr))


def container_ports(container):
    ports = container.get("ports") or []
    return ({p.get("containerPort") for p in ports if isinstance(p, dict)},
            {p.get("name") for p in ports if isinstance(p, dict) and p.get("name")})


def env_value(container, name):
    for item in container.get("env") or []:
        if isinstance(item, dict) and item.get("name") == name and "value" in item:
            return item["value"]
    return None


def serving_ports(container, ctx, where, problems):
    """The HTTP and gRPC ports nfserve listens on (None for a gRPC port of 0)."""
    values = flag_values(container.get("args") or [])
    result = []
    for flag, env, default in (("--port", "NFSERVE_PORT", ctx.http_port),
                               ("--grpc-port", "NFSERVE_GRPC_PORT", ctx.grpc_port)):
        raw = values.get(flag, env_value(container, env) or default)
        try:
            result.append(int(raw) or None)
        except ValueError:
            problems.append(where + f"{flag} {raw!r} is not a port number")
            result.append(None)
    return result


def check_probes(container, ctx, where, problems):
    numbers, names = container_ports(container)
    for probe_name in ("readinessProbe", "livenessProbe", "startupProbe"):
        get = (container.get(probe_name) or {}).get("httpGet")
        if not isinstance(get, dict):
            continue
        path, port = get.get("path"), get.get("port")
        if path not in ctx.paths:
            problems.append(where + f"{probe_name} path {path!r} is not a path of docs/openapi.yaml")
        if port not in numbers and port not in names:
            problems.append(where + f"{probe_name} port {port!r} is not a declared containerPort")
    ready = ((container.get("readinessProbe") or {}).get("httpGet") or {}).get("path")
    live = ((container.get("livenessProbe") or {}).get("httpGet") or {}).get("path")
    # Only /v2/health/ready turns 503 at SIGTERM (and while models load); a liveness probe on it
    # would kill draining or loading pods.
    if ready != "/v2/health/ready":
        problems.append(where + f"readinessProbe must get /v2/health/ready (got {ready!r})")
    if live == "/v2/health/ready":
        problems.append(where + "livenessProbe on /v2/health/ready restarts pods that drain or load models")


def check_security(container, pod_security, ctx, where, problems):
    sc = container.get("securityContext") or {}

    def setting(key):
        return sc.get(key, pod_security.get(key))

    wanted = {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True}
    for key, value in wanted.items():
        if setting(key) is not value:
            problems.append(where + f"securityContext.{key} must be {str(value).lower()}")
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        problems.append(where + "securityContext.capabilities.drop must include ALL")
    if (setting("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append(where + "securityContext.seccompProfile.type must be RuntimeDefault")
    if ctx.uid is not None and setting("runAsUser") != ctx.uid:
        problems.append(where + f"securityContext.runAsUser must be the image's user, {ctx.uid} (Dockerfile)")


def check_flags(container, ctx, where, problems):
    args = [str(a) for a in container.get("args") or []]
    if not container.get("command") and (not args or args[0] != "serve"):
        problems.append(where + "args must start with the subcommand `serve` (the image's ENTRYPOINT is nfserve)")
    if ctx.help_flags is None:
        return
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag.startswith("--") and flag not in ctx.help_flags:
            problems.append(where + f"{flag} is not a flag of `nfserve serve` (its --help)")


def check_prometheus(annotations, http_port, where, problems):
    if str(annotations.get("prometheus.io/scrape", "")).lower() != "true":
        return
    port = annotations.get("prometheus.io/port")
    if port is None:
        problems.append(where + "prometheus.io/scrape without prometheus.io/port: Prometheus would scrape every port")
    elif str(port) != str(http_port):
        problems.append(where + f"prometheus.io/port {port!r} is not the HTTP port {http_port}")
    if annotations.get("prometheus.io/path", "/metrics") != "/metrics":
        problems.append(where + f"prometheus.io/path {annotations['prometheus.io/path']!r} is not /metrics")


def check_container(container, pod_security, annotations, ctx, where, problems):
    """Every check of one nfserve container; returns its HTTP port."""
    http, grpc = serving_ports(container, ctx, where, problems)
    numbers, _ = container_ports(container)
    for label, port in (("HTTP", http), ("gRPC", grpc)):
        if port is not None and port not in numbers:
            problems.append(where + f"nfserve's {label} port {port} is not a declared containerPort")
    check_probes(container, ctx, where, problems)
    check_security(container, pod_security, ctx, where, problems)
    check_flags(container, ctx, where, problems)
    check_prometheus(annotations, http, where, problems)
    return http


def check_grace(args, tgps, where, problems):
    values = flag_values(args)
    delay = seconds(values, "--shutdown-delay", DEFAULT_DELAY, where, problems)
    grace = seconds(values, "--shutdown-grace", DEFAULT_GRACE, where, problems)
    if tgps < delay + grace + EXIT_MARGIN_S:
        problems.append(where + f"terminationGracePeriodSeconds {tgps} < --shutdown-delay {delay:g} + "
                        f"--shutdown-grace {grace:g} + {EXIT_MARGIN_S} s for nfserve to exit")


# ---------------------------------------------------------------- cross-checks by kind

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet"}


def labels_match(selector, labels):
    """A Service's selector (labels) or a LabelSelector's matchLabels (matchExpressions ignored)."""
    selector = selector if isinstance(selector, dict) else {}
    if "matchLabels" in selector or "matchExpressions" in selector:
        selector = selector.get("matchLabels") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_workload(doc, ctx, problems):
    pod = doc.get("spec", "template", "spec", default={})
    annotations = doc.get("spec", "template", "metadata", "annotations", default={})
    for i, container in enumerate(pod.get("containers") or []):
        if not is_nfserve(container):
            continue
        where = doc.where(f"spec.template.spec.containers[{i}]")
        check_container(container, pod.get("securityContext") or {}, annotations, ctx, where, problems)
        tgps = pod.get("terminationGracePeriodSeconds", DEFAULT_TGPS)
        check_grace([str(a) for a in container.get("args") or []], tgps, where, problems)


def check_runtime(doc, ctx, problems):
    for i, container in enumerate(doc.get("spec", "containers", default=[])):
        if is_nfserve(container):
            where = doc.where(f"spec.containers[{i}]")
            check_container(container, {}, doc.get("spec", "annotations", default={}), ctx, where, problems)


def find_runtime(isvc, runtimes, fmt, where, problems):
    name = isvc.get("spec", "predictor", "model", "runtime")
    if name:
        runtime = runtimes.get(name)
        if runtime is None:
            problems.append(where + f"runtime {name!r} is no ServingRuntime or ClusterServingRuntime defined "
                            f"here (defined: {', '.join(sorted(runtimes)) or 'none'})")
        return runtime
    # No runtime named: KServe picks one whose format has autoSelect.
    for runtime in runtimes.values():
        if any(f.get("name") == fmt and f.get("autoSelect") for f in runtime.get("spec", "supportedModelFormats",
                                                                                  default=[])):
            return runtime
    problems.append(where + f"no runtime named and none defined here auto-selects model format {fmt!r}")
    return None


def check_isvc_runtime(isvc, runtimes, problems):
    where = isvc.where("spec.predictor.model")
    model = isvc.get("spec", "predictor", "model", default={})
    fmt = (model.get("modelFormat") or {}).get("name")
    if model.get("name"):
        problems.append(where + "name is not allowed in a predictor's model (KServe's webhook refuses it)")
    runtime = find_runtime(isvc, runtimes, fmt, where, problems)
    if runtime is None:
        return
    formats = [f.get("name") for f in runtime.get("spec", "supportedModelFormats", default=[])]
    if fmt not in formats:
        problems.append(where + f"modelFormat {fmt!r} is not among runtime {runtime.name}'s supportedModelFormats "
                        f"{formats}")
    protocols = runtime.get("spec", "protocolVersions", default=[])
    if model.get("protocolVersion") and protocols and model["protocolVersion"] not in protocols:
        problems.append(where + f"protocolVersion {model['protocolVersion']!r} is not among runtime "
                        f"{runtime.name}'s protocolVersions {protocols}")
    containers = runtime.get("spec", "containers", default=[])
    main = next((c for c in containers if c.get("name") == "kserve-container"), containers[0] if containers else {})
    args = [str(a) for a in (main.get("args") or []) + (model.get("args") or [])]  # KServe appends the model's
    tgps = isvc.get("spec", "predictor", "terminationGracePeriodSeconds", default=DEFAULT_TGPS)
    check_grace(args, tgps, isvc.where("spec.predictor"), problems)
    mode = isvc.get("metadata", "annotations", "serving.kserve.io/deploymentMode", default="")
    if len(main.get("ports") or []) > 1 and mode not in ("Standard", "RawDeployment"):
        problems.append(isvc.where("metadata.annotations") + f"runtime {runtime.name} declares several ports, which "
                        "Knative (Serverless mode) refuses: set serving.kserve.io/deploymentMode: Standard")


def check_isvc_hpa(predictor, metrics, where, problems):
    metric = predictor.get("scaleMetric", "cpu")
    if metric not in ("cpu", "memory"):
        problems.append(where + f"scaleMetric {metric!r}: KServe's HPA scales on cpu or memory")
    if metric == "cpu" and not 1 <= predictor.get("scaleTarget", 80) <= 100:
        problems.append(where + "scaleTarget for cpu must be a percentage in [1, 100]")
    if any(m.get("type") != "Resource" for m in metrics):
        problems.append(where + "autoScaling.metrics: KServe's HPA takes Resource metrics only (External needs keda)")


def check_isvc_keda(predictor, metrics, where, problems):
    if "scaleMetric" in predictor:
        problems.append(where + "scaleMetric is not allowed with autoscalerClass keda (use autoScaling.metrics)")
    for i, metric in enumerate(metrics):
        external = metric.get("external") or {}
        query = (external.get("metric") or {}).get("query")
        if metric.get("type") == "External" and not (query and (external.get("target") or {}).get("value")):
            problems.append(where + f"autoScaling.metrics[{i}]: an External metric needs metric.query and target.value")


def check_isvc_scaling(isvc, problems):
    """KServe 0.20's webhook rules for the autoscaler the annotations choose (Standard mode)."""
    predictor = isvc.get("spec", "predictor", default={})
    where = isvc.where("spec.predictor")
    cls = isvc.get("metadata", "annotations", "serving.kserve.io/autoscalerClass", default="")
    if cls and cls not in ("hpa", "keda", "external", "none"):
        problems.append(isvc.where("metadata.annotations") + f"autoscalerClass {cls!r}: not hpa, keda, external, none")
    if predictor.get("minReplicas", 1) > predictor.get("maxReplicas", 10 ** 9):
        problems.append(where + "minReplicas > maxReplicas")
    metrics = (predictor.get("autoScaling") or {}).get("metrics") or []
    if cls == "hpa":
        check_isvc_hpa(predictor, metrics, where, problems)
    elif cls == "keda":
        check_isvc_keda(predictor, metrics, where, problems)


def check_isvc(isvc, runtimes, problems):
    check_isvc_runtime(isvc, runtimes, problems)
    check_isvc_scaling(isvc, problems)
    uri = str(isvc.get("spec", "predictor", "model", "storageUri", default=""))
    if uri and uri.split("://")[0] not in ("pvc", "s3", "gs", "http", "https", "hf", "oci", "hdfs", "webhdfs"):
        problems.append(isvc.where("spec.predictor.model.storageUri") + f"{uri!r}: no storage KServe knows")


def workload_for(doc, selector, workloads, problems):
    found = [w for w in workloads if labels_match(selector, w.get("spec", "template", "metadata", "labels",
                                                                    default={}))]
    if not found:
        problems.append(doc.where("spec.selector") + "selects the pods of no workload defined here")
    return found


def check_service(svc, workloads, problems):
    for workload in workload_for(svc, svc.get("spec", "selector", default={}), workloads, problems):
        containers = workload.get("spec", "template", "spec", "containers", default=[])
        numbers = set().union(*(container_ports(c)[0] for c in containers))
        names = set().union(*(container_ports(c)[1] for c in containers))
        for i, port in enumerate(svc.get("spec", "ports", default=[])):
            target = port.get("targetPort", port.get("port"))
            if target not in numbers and target not in names:
                problems.append(svc.where(f"spec.ports[{i}]") + f"targetPort {target!r} is no containerPort of "
                                f"{workload.kind}/{workload.name}")
            if {port.get("name"), target} & {"grpc", "h2c"} and port.get("appProtocol") != "kubernetes.io/h2c":
                problems.append(svc.where(f"spec.ports[{i}]") + "the gRPC port needs appProtocol kubernetes.io/h2c")


def check_pdb(pdb, workloads, problems):
    for workload in workload_for(pdb, pdb.get("spec", "selector", default={}), workloads, problems):
        replicas = workload.get("spec", "replicas", default=1)
        least = pdb.get("spec", "minAvailable")
        if (isinstance(least, int) and least >= replicas) or pdb.get("spec", "maxUnavailable") == 0:
            problems.append(pdb.where("spec") + f"allows no eviction of {workload.kind}/{workload.name} "
                            f"({replicas} replicas): node drains would block")


def target_of(doc, ref, workloads, problems):
    ref = ref or {}
    found = [w for w in workloads if w.name == ref.get("name") and w.kind == ref.get("kind", "Deployment")]
    if not found:
        problems.append(doc.where("spec.scaleTargetRef") + f"{ref.get('kind', 'Deployment')}/{ref.get('name')} is "
                        "not defined here")


def adapter_metrics(docs, problems):
    """The metric names prometheus-adapter rules (ConfigMaps with config.yaml) publish; None: no rules."""
    names = None
    for doc in docs:
        text = doc.get("data", "config.yaml") if doc.kind == "ConfigMap" else None
        if not isinstance(text, str):
            continue
        try:
            config = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:
            problems.append(doc.where("data.config.yaml") + f"not YAML: {' '.join(str(error).split())}")
            continue
        for rule in config.get("rules") or []:
            names = names or set()
            series = re.match(r"\s*([A-Za-z_:][\w:]*)", str(rule.get("seriesQuery", "")))
            names.add((rule.get("name") or {}).get("as") or (series.group(1) if series else ""))
    return names


def check_hpa(hpa, workloads, published, problems):
    target_of(hpa, hpa.get("spec", "scaleTargetRef"), workloads, problems)
    if hpa.get("spec", "minReplicas", default=1) > hpa.get("spec", "maxReplicas", default=0):
        problems.append(hpa.where("spec") + "minReplicas > maxReplicas")
    for i, metric in enumerate(hpa.get("spec", "metrics", default=[])):
        name = ((metric.get("pods") or metric.get("object") or {}).get("metric") or {}).get("name")
        if name and published is not None and name not in published:
            problems.append(hpa.where(f"spec.metrics[{i}]") + f"{name!r} is published by no prometheus-adapter rule "
                            f"here (published: {', '.join(sorted(published))})")


def check_scaledobject(so, workloads, problems):
    target_of(so, so.get("spec", "scaleTargetRef"), workloads, problems)
    if so.get("spec", "minReplicaCount", default=0) > so.get("spec", "maxReplicaCount", default=100):
        problems.append(so.where("spec") + "minReplicaCount > maxReplicaCount")
    for i, trigger in enumerate(so.get("spec", "triggers", default=[])):
        where = so.where(f"spec.triggers[{i}]")
        if trigger.get("metricType", "AverageValue") not in ("AverageValue", "Value", "Utilization"):
            problems.append(where + f"metricType {trigger['metricType']!r} is not AverageValue, Value or Utilization")
        if trigger.get("type") != "prometheus" or not isinstance(trigger.get("metadata"), dict):
            continue
        keys = set(trigger["metadata"])
        for key in sorted(keys - KEDA_PROMETHEUS_KEYS):
            problems.append(where + f"metadata.{key}: not a key of KEDA's prometheus scaler")
        for key in sorted(KEDA_PROMETHEUS_REQUIRED - keys):
            problems.append(where + f"metadata.{key}: required by KEDA's prometheus scaler")
        try:
            float(trigger["metadata"].get("threshold", "0"))
        except (TypeError, ValueError):
            problems.append(where + "metadata.threshold is not a number")


def cross_check(docs, ctx, problems):
    workloads = [d for d in docs if d.kind in WORKLOADS]
    runtimes = {d.name: d for d in docs if d.kind in ("ServingRuntime", "ClusterServingRuntime")}
    published = adapter_metrics(docs, problems)
    checks = {"ServingRuntime": lambda d: check_runtime(d, ctx, problems),
              "ClusterServingRuntime": lambda d: check_runtime(d, ctx, problems),
              "InferenceService": lambda d: check_isvc(d, runtimes, problems),
              "Service": lambda d: check_service(d, workloads, problems),
              "PodDisruptionBudget": lambda d: check_pdb(d, workloads, problems),
              "HorizontalPodAutoscaler": lambda d: check_hpa(d, workloads, published, problems),
              "ScaledObject": lambda d: check_scaledobject(d, workloads, problems)}
    checks.update({kind: lambda d: check_workload(d, ctx, problems) for kind in WORKLOADS})
    for doc in docs:
        try:
            checks.get(doc.kind, lambda d: None)(doc)
        except (TypeError, AttributeError, ValueError, KeyError) as error:
            # A value of the wrong shape: the schema check has said where; say that the
            # cross-checks of this document stopped rather than crash.
            problems.append(doc.where() + f"cross-checks stopped at a malformed value ({error})")


# ---------------------------------------------------------------- main

def validate(root, nfserve=None, kubernetes_version="1.31", openapi=None, dockerfile=None):
    """Every problem found under root, one line each (an empty list: all passed)."""
    root = pathlib.Path(root)
    check_version(kubernetes_version)
    problems = []
    files = discover(root)
    if not files:
        return [f"{display(root)}: no YAML files"]
    lint(files, root, problems)
    docs = load(files, problems)
    table = None
    for doc in docs:
        if is_core(doc.api):
            check_core(doc, kubernetes_version, problems)
        elif doc.api.startswith("serving.kserve.io/"):
            table = table or load_sdk_types()
            check_typed(doc, sdk_class(doc), table, problems)
        elif doc.api == "keda.sh/v1alpha1" and doc.kind == "ScaledObject":
            table = table or load_sdk_types()
            check_typed(doc, "KedaScaledObject", table, problems)
        else:
            problems.append(doc.where() + f"no schema for {doc.api} {doc.kind}: nothing validates it")
    ctx = Context(pathlib.Path(openapi or REPO / "docs/openapi.yaml"),
                  pathlib.Path(dockerfile or REPO / "Dockerfile"), help_flags(nfserve))
    cross_check(docs, ctx, problems)
    if not problems:
        NOTICES.append(f"deploy ok: {len(docs)} documents in {len(files)} files under {display(root)}")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", nargs="?", default=str(REPO / "deploy"), help="folder of manifests (default: deploy/)")
    parser.add_argument("--nfserve", help="nfserve binary whose `serve --help` the args are checked against")
    parser.add_argument("--kubernetes-version", default="1.31", help="schemas of kubernetes-validate (default 1.31)")
    parser.add_argument("--openapi", help="the OpenAPI document of probe paths (default docs/openapi.yaml)")
    parser.add_argument("--dockerfile", help="the image's Dockerfile (default ./Dockerfile)")
    options = parser.parse_args(argv)
    problems = validate(options.root, options.nfserve, options.kubernetes_version, options.openapi, options.dockerfile)
    for line in problems:
        print(line)
    for line in NOTICES:
        print(line, file=sys.stderr if problems or line.startswith("notice") else sys.stdout)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
