#!/usr/bin/env python3
"""Tests of tools/deploy/validate.py: deploy/ passes, and copies broken on purpose fail, each with
a line that names what is wrong.

    python3 tools/deploy/test_validate.py [-v]      (with the tools' environment: scripts/deploy-check.sh)

Each test copies deploy/ into a temporary folder, changes one thing in one file (the text
replaced must occur exactly once, so that a manifest edited later cannot make a test pass
vacuously) and runs the validator on the copy: in this process for speed, and as a command for
the exit status. Standard library (unittest) only, besides what the validator needs.
"""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEPLOY = REPO / "deploy"
sys.path.insert(0, str(HERE))
import validate  # noqa: E402

CSR = "kserve/cluster-serving-runtime.yaml"
ISVC_PVC = "kserve/inferenceservice-pvc.yaml"
ISVC_S3 = "kserve/inferenceservice-s3.yaml"
DEPLOYMENT = "kubernetes/deployment.yaml"
SERVICE = "kubernetes/service.yaml"
HPA = "kubernetes/hpa.yaml"
KEDA = "kubernetes/keda-scaledobject.yaml"
# What `nfserve serve --help` lists, for the fake binary of the flag tests (the real one may not
# be built, and its flags change with the sources).
HELP_FLAGS = ["--host", "--port", "--grpc-port", "--checkpoints", "--model-dir", "--model-name", "--datasets",
              "--shutdown-delay", "--shutdown-grace", "--esm-export", "--live-esm-budget", "--help"]


class ValidateTests(unittest.TestCase):
    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="deploy-validate-"))
        self.root = self.tmp / "deploy"
        shutil.copytree(DEPLOY, self.root, ignore=shutil.ignore_patterns("prometheus"))

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def edit(self, rel, old, new):
        path = self.root / rel
        text = path.read_text(encoding="utf-8")
        self.assertEqual(text.count(old), 1, f"{rel} should hold {old!r} exactly once")
        path.write_text(text.replace(old, new), encoding="utf-8")

    def problems(self, **options):
        validate.NOTICES.clear()
        return validate.validate(self.root, **options)

    def assertFails(self, *needles, **options):
        """Some problem line holds every needle."""
        problems = self.problems(**options)
        self.assertTrue(problems, "the validator passed a broken copy")
        matching = [line for line in problems if all(n in line for n in needles)]
        self.assertTrue(matching, f"no problem names {needles}; got:\n" + "\n".join(problems))
        return problems

    def fake_nfserve(self, flags):
        path = self.tmp / "nfserve"
        path.write_text("#!/bin/sh\necho 'USAGE: nfserve serve <options>'\n"
                        + "".join(f"echo '  {flag} <value>'\n" for flag in flags), encoding="utf-8")
        path.chmod(0o755)
        return str(path)

    # ------------------------------------------------------------ passing

    def test_deploy_passes(self):
        self.assertEqual(self.problems(), [])

    def test_command_exit_status(self):
        run = subprocess.run([sys.executable, str(HERE / "validate.py"), str(self.root)],
                             capture_output=True, text=True, cwd=REPO)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("deploy ok", run.stdout)
        self.edit(CSR, "path: /v2/health/ready\n", "path: /v2/health/readyz\n")
        run = subprocess.run([sys.executable, str(HERE / "validate.py"), str(self.root)],
                             capture_output=True, text=True, cwd=REPO)
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        self.assertIn("/v2/health/readyz", run.stdout)

    def test_flags_pass_with_a_help_that_lists_them(self):
        self.assertEqual(self.problems(nfserve=self.fake_nfserve(HELP_FLAGS)), [])

    # ------------------------------------------------------------ the brief's broken copies

    def test_misspelt_field_in_cluster_serving_runtime(self):
        self.edit(CSR, "  supportedModelFormats:", "  supportedModelFormat:")
        self.assertFails("cluster-serving-runtime.yaml", "spec.supportedModelFormat", "unknown field",
                         "V1alpha1ServingRuntimeSpec")

    def test_wrong_probe_path(self):
        self.edit(CSR, "path: /v2/health/ready\n", "path: /v2/health/readyz\n")
        self.assertFails("readinessProbe path '/v2/health/readyz'", "docs/openapi.yaml")

    def test_misspelt_field_in_inference_service_predictor(self):
        self.edit(ISVC_PVC, "    minReplicas: 2", "    minReplica: 2")
        self.assertFails("inferenceservice-pvc.yaml", "spec.predictor.minReplica", "unknown field",
                         "V1beta1PredictorSpec", "did you mean 'minReplicas'")

    def test_short_termination_grace_in_inference_service(self):
        self.edit(ISVC_PVC, "terminationGracePeriodSeconds: 40", "terminationGracePeriodSeconds: 10")
        self.assertFails("inferenceservice-pvc.yaml", "terminationGracePeriodSeconds 10",
                         "--shutdown-delay 5", "--shutdown-grace 25")

    def test_short_termination_grace_in_deployment(self):
        self.edit(DEPLOYMENT, "terminationGracePeriodSeconds: 40", "terminationGracePeriodSeconds: 10")
        self.assertFails("deployment.yaml", "terminationGracePeriodSeconds 10", "--shutdown-delay 5",
                         "--shutdown-grace 25")

    def test_termination_grace_defaults_to_30(self):
        self.edit(ISVC_S3, "    terminationGracePeriodSeconds: 40\n", "")
        self.assertFails("inferenceservice-s3.yaml", "terminationGracePeriodSeconds 30")

    def test_runtime_that_does_not_exist(self):
        self.edit(ISVC_PVC, "runtime: nfserve\n", "runtime: nfserve-missing\n")
        self.assertFails("inferenceservice-pvc.yaml", "runtime 'nfserve-missing'", "defined")

    def test_misspelt_field_in_deployment(self):
        self.edit(DEPLOYMENT, "  revisionHistoryLimit: 5", "  revisionHistoryLimits: 5")
        self.assertFails("deployment.yaml", "kubernetes-validate", "revisionHistoryLimits")

    def test_yamllint_duplicate_key(self):
        self.edit(SERVICE, "  type: ClusterIP\n", "  type: ClusterIP\n  type: ClusterIP\n")
        self.assertFails("service.yaml", "yamllint", "key-duplicates")

    # ------------------------------------------------------------ more broken copies

    def test_model_format_the_runtime_does_not_support(self):
        self.edit(ISVC_PVC, "name: timm-safetensors", "name: onnx")
        self.assertFails("modelFormat 'onnx'", "supportedModelFormats")

    def test_wrong_type_in_inference_service(self):
        self.edit(ISVC_PVC, "    maxReplicas: 6", "    maxReplicas: six")
        self.assertFails("spec.predictor.maxReplicas", "expected an integer")

    def test_probe_port_not_declared(self):
        self.edit(CSR, "          path: /v2/health/live\n          port: 8080",
                  "          path: /v2/health/live\n          port: 9090")
        self.assertFails("livenessProbe port 9090", "containerPort")

    def test_liveness_on_readiness_path(self):
        self.edit(DEPLOYMENT, "path: /v2/health/live", "path: /v2/health/ready")
        self.assertFails("livenessProbe on /v2/health/ready")

    def test_prometheus_port_not_the_http_port(self):
        self.edit(DEPLOYMENT, 'prometheus.io/port: "8080"', 'prometheus.io/port: "8081"')
        self.assertFails("prometheus.io/port '8081'", "HTTP port 8080")

    def test_service_target_port_not_in_deployment(self):
        self.edit(SERVICE, "targetPort: grpc", "targetPort: grpcs")
        self.assertFails("service.yaml", "targetPort 'grpcs'", "Deployment/nfserve")

    def test_grpc_port_without_h2c(self):
        self.edit(SERVICE, "appProtocol: kubernetes.io/h2c", "appProtocol: http")
        self.assertFails("service.yaml", "kubernetes.io/h2c")

    def test_writable_root_filesystem(self):
        self.edit(CSR, "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false")
        self.assertFails("cluster-serving-runtime.yaml", "readOnlyRootFilesystem must be true")

    def test_hpa_metric_no_adapter_rule_publishes(self):
        self.edit(HPA, "name: nfserve_queue_depth\n", "name: nfserve_queue_depths\n")
        self.assertFails("hpa.yaml", "'nfserve_queue_depths'", "prometheus-adapter")

    def test_hpa_target_not_defined(self):
        self.edit(HPA, "    name: nfserve\n  minReplicas", "    name: nfserv\n  minReplicas")
        self.assertFails("hpa.yaml", "Deployment/nfserv ", "not defined")

    def test_keda_misspelt_field(self):
        self.edit(KEDA, "  pollingInterval: 15", "  pollingIntervall: 15")
        self.assertFails("keda-scaledobject.yaml", "spec.pollingIntervall", "unknown field")

    def test_keda_threshold_must_be_a_string(self):
        self.edit(KEDA, 'threshold: "8"', "threshold: 8")
        self.assertFails("keda-scaledobject.yaml", "metadata.threshold", "expected a string")

    def test_keda_unknown_prometheus_key(self):
        self.edit(KEDA, "        query: sum(", "        querry: sum(")
        self.assertFails("metadata.querry", "prometheus scaler")

    def test_isvc_hpa_with_external_metric(self):
        self.edit(ISVC_S3, "serving.kserve.io/autoscalerClass: keda", "serving.kserve.io/autoscalerClass: hpa")
        self.assertFails("inferenceservice-s3.yaml", "Resource metrics only")

    def test_isvc_without_standard_mode(self):
        self.edit(ISVC_PVC, "    serving.kserve.io/deploymentMode: Standard\n", "")
        self.assertFails("inferenceservice-pvc.yaml", "deploymentMode: Standard")

    def test_flag_nfserve_does_not_have(self):
        self.edit(DEPLOYMENT, "- --esm-export\n", "- --esm-exports\n")
        self.assertFails("deployment.yaml", "--esm-exports is not a flag", nfserve=self.fake_nfserve(HELP_FLAGS))

    def test_container_port_arg_mismatch(self):
        self.edit(DEPLOYMENT, '- --grpc-port\n            - "8081"', '- --grpc-port\n            - "9091"')
        self.assertFails("deployment.yaml", "gRPC port 9091", "containerPort")

    def test_prometheus_folder_skipped(self):
        (self.root / "prometheus").mkdir()
        (self.root / "prometheus" / "rules.yaml").write_text("groups: [ {name: x} ]\n", encoding="utf-8")
        self.assertEqual(self.problems(), [])


if __name__ == "__main__":
    os.chdir(REPO)
    unittest.main()
