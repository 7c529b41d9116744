"""Checks deploy/kubernetes without a cluster: every file parses, kustomization lists what is
there, and the Deployment's probes, ports and settings agree with each other and with wasmhub.

    python3 deploy/kubernetes/check.py     (needs PyYAML)
"""
import pathlib
import sys

import yaml

here = pathlib.Path(__file__).parent
documents = {path.name: list(yaml.safe_load_all(path.read_text())) for path in here.glob("*.yaml")}
kustomization = documents.pop("kustomization.yaml")[0]
problems = []
if sorted(kustomization["resources"]) != sorted(documents):
    problems.append(f"kustomization resources {kustomization['resources']} are not the files {sorted(documents)}")
kinds = {doc["kind"]: doc for docs in documents.values() for doc in docs}
for kind in ("Deployment", "Service", "Ingress", "Secret", "PodDisruptionBudget"):
    if kind not in kinds:
        problems.append(f"no {kind}")
pod = kinds["Deployment"]["spec"]["template"]["spec"]
container = pod["containers"][0]
ports = {port["name"]: port["containerPort"] for port in container["ports"]}
env = {item["name"]: item.get("value") for item in container["env"]}
if env.get("WASMHUB_LISTEN", "").rsplit(":", 1)[-1] != str(ports.get("http")):
    problems.append("WASMHUB_LISTEN does not listen on the http port")
if env.get("WASMHUB_METRICS_LISTEN", "").rsplit(":", 1)[-1] != str(ports.get("metrics")):
    problems.append("WASMHUB_METRICS_LISTEN does not listen on the metrics port")
for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
    get = container[probe]["httpGet"]
    if get["path"] != path or get["port"] not in ports:
        problems.append(f"{probe} should GET {path} on a declared port")
if pod["terminationGracePeriodSeconds"] <= 30:
    problems.append("the termination grace must exceed wasmhub's 30 s drain")
for name in ("WASMHUB_PUBLIC_URL", "WASMHUB_TRUSTED_PROXIES"):
    if name not in env:
        problems.append(f"{name} is not set")
secret = kinds["Secret"]["stringData"]
for name in ("WASMHUB_DATABASE_URL", "WASMHUB_STORAGE_URL"):
    if name not in secret:
        problems.append(f"the Secret has no {name}")
if not secret.get("WASMHUB_DATABASE_URL", "").startswith("postgres://"):
    problems.append("two replicas need PostgreSQL")
service_ports = {port["targetPort"] for port in kinds["Service"]["spec"]["ports"]}
if not service_ports <= set(ports):
    problems.append(f"the Service targets {service_ports}, the container names {set(ports)}")
backend = kinds["Ingress"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
if backend["name"] != kinds["Service"]["metadata"]["name"]:
    problems.append("the Ingress does not route to the Service")
if problems:
    sys.exit("deploy/kubernetes: " + "; ".join(problems))
print(f"deploy/kubernetes: {len(documents)} manifests and the kustomization agree")
