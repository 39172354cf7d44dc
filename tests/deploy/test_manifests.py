"""What ``deploy/`` ships is valid and consistent with the code: Kubernetes manifests against the
Kubernetes schemas (``kubernetes-validate``, strict: unknown fields are errors), the ServiceMonitor
against its own schema, the kustomization against the files, the alert rules and their unit tests
with ``promtool``, the Grafana dashboard's queries, the Dockerfile's contract, and the metric names
everything refers to against the gateway's real metrics."""

from __future__ import annotations

import copy
import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from llmproxy.config import _ENV, load_settings
from llmproxy.metrics import Metrics
from tests.support.binaries import require_binary

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
ALERTS_TEST = DEPLOY / "prometheus" / "alerts_test.yaml"
DASHBOARD = DEPLOY / "grafana" / "llmproxy-dashboard.json"
DOCKERFILE = DEPLOY / "Dockerfile"

#: The oldest Kubernetes minor still widely run, and the newest the package knows.
KUBE_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
#: Kinds with no schema in kubernetes-validate (a CRD, and kustomize's own file); each has its
#: own test below.
NOT_CORE = {"ServiceMonitor", "Kustomization"}
#: In deploy/k8s but deliberately not applied: a template for a Secret the operator creates.
NOT_LISTED = {"kustomization.yaml", "secret.example.yaml"}

Doc = dict[str, Any]


def load(path: Path) -> Doc:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert len(docs) == 1, f"{path.name}: one object per file"
    doc = docs[0]
    assert isinstance(doc, dict)
    return doc


def manifests() -> list[Path]:
    return sorted(K8S.glob("*.yaml"))


def by_kind() -> dict[str, Doc]:
    out: dict[str, Doc] = {}
    for path in manifests():
        if path.name == "kustomization.yaml":
            continue
        doc = load(path)
        assert doc["kind"] not in out, f"two {doc['kind']} manifests"
        out[doc["kind"]] = doc
    return out


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


# -- Kubernetes --------------------------------------------------------------------------------


def test_every_manifest_is_one_named_object() -> None:
    names = [p.name for p in manifests()]
    assert "deployment.yaml" in names
    for path in manifests():
        doc = load(path)
        assert doc.get("apiVersion")
        assert doc.get("kind")
        if doc["kind"] != "Kustomization":
            assert doc["metadata"]["name"] == "llmproxy", path.name
            assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "llmproxy", path.name


def _core() -> Iterator[Any]:
    for path in manifests():
        if load(path)["kind"] not in NOT_CORE:
            for version in KUBE_VERSIONS:
                yield pytest.param(path, version, id=f"{path.name}-{version}")


@pytest.mark.parametrize(("path", "version"), list(_core()))
def test_manifest_matches_the_kubernetes_schema(path: Path, version: str) -> None:
    doc = load(path)
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        where = ".".join(str(p) for p in e.path)
        pytest.fail(f"{path.name} is invalid for Kubernetes {version}: {where}: {e.message}")


def test_the_schema_check_is_strict() -> None:
    """A misspelt field is an error, not silently ignored: the check above has teeth."""
    doc = copy.deepcopy(by_kind()["Deployment"])
    container = doc["spec"]["template"]["spec"]["containers"][0]
    container["securityContex"] = container.pop("securityContext")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBE_VERSIONS[-1], strict=True)


#: The fields of monitoring.coreos.com/v1 ServiceMonitor this project uses, with the types and
#: patterns of the Prometheus Operator's CRD; anything else is refused so that a typo fails.
_DURATION = (
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
SERVICE_MONITOR_SCHEMA: Doc = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "labels": _LABELS,
                "annotations": _LABELS,
            },
        },
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "jobLabel": {"type": "string"},
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["matchLabels"],
                    "properties": {"matchLabels": _LABELS},
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["port"],
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
                            "interval": {"type": "string", "pattern": _DURATION},
                            "scrapeTimeout": {"type": "string", "pattern": _DURATION},
                        },
                    },
                },
            },
        },
    },
}


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h)", duration))


def test_service_monitor_scrapes_the_service_metrics_port() -> None:
    """The ServiceMonitor CRD is not in the core schemas: checked against the schema above and
    cross-checked with the Service it must select."""
    kinds = by_kind()
    monitor, service = kinds["ServiceMonitor"], kinds["Service"]
    jsonschema.validate(monitor, SERVICE_MONITOR_SCHEMA)
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items(), "selects the Service"
    port_names = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] == "http"
        assert endpoint["port"] in port_names
        assert endpoint.get("path", "/metrics") == "/metrics"
        assert _seconds(endpoint["scrapeTimeout"]) <= _seconds(endpoint["interval"])
    assert monitor["spec"]["jobLabel"] in service["metadata"]["labels"]
    # The alert rules expect job="llmproxy": the value of the Service label named by jobLabel.
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "llmproxy"


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = load(K8S / "kustomization.yaml")
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    resources = kustomization["resources"]
    assert len(resources) == len(set(resources)), "no duplicates"
    expected = {p.name for p in manifests()} - NOT_LISTED
    assert set(resources) == expected
    assert "secret.example.yaml" not in resources
    # The images entry rewrites the Deployment's image.
    image = by_kind()["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.split(":")[0] in {i["name"] for i in kustomization["images"]}


def test_no_secret_value_is_applied() -> None:
    listed = [load(K8S / name) for name in load(K8S / "kustomization.yaml")["resources"]]
    assert "Secret" not in {d["kind"] for d in listed}
    example = load(K8S / "secret.example.yaml")
    assert example["stringData"] == {"reasoning-key": "REPLACE-WITH-A-LONG-RANDOM-STRING"}


def test_objects_select_the_same_pods() -> None:
    kinds = by_kind()
    deployment = kinds["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selectors = {
        "Deployment": deployment["spec"]["selector"]["matchLabels"],
        "Service": kinds["Service"]["spec"]["selector"],
        "PodDisruptionBudget": kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
        "NetworkPolicy": kinds["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"],
    }
    for kind, selector in selectors.items():
        assert selector.items() <= pod_labels.items(), kind
    spec = deployment["spec"]["template"]["spec"]
    for constraint in spec["topologySpreadConstraints"]:
        assert constraint["labelSelector"]["matchLabels"].items() <= pod_labels.items()
    target = kinds["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])


def test_deployment_runs_the_gateway_safely() -> None:
    kinds = by_kind()
    deployment, configmap = kinds["Deployment"], kinds["ConfigMap"]
    assert deployment["spec"]["replicas"] == 2
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
    (port,) = container["ports"]
    assert (port["name"], port["containerPort"]) == ("http", 8080)
    assert kinds["Service"]["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    assert kinds["Service"]["spec"]["type"] == "ClusterIP"
    # Settings: the ConfigMap holds only names the gateway reads, and they load.
    assert container["envFrom"] == [{"configMapRef": {"name": configmap["metadata"]["name"]}}]
    unknown = set(configmap["data"]) - set(_ENV)
    assert not unknown, f"ConfigMap keys the gateway does not read: {unknown}"
    settings = load_settings(environ=configmap["data"])
    assert (settings.host, settings.port, settings.log_format) == ("0.0.0.0", 8080, "json")
    # The reasoning key comes from the Secret of secret.example.yaml, never from a literal.
    (env,) = container["env"]
    example = load(K8S / "secret.example.yaml")
    assert env == {
        "name": "LLMPROXY_REASONING_KEY",
        "valueFrom": {
            "secretKeyRef": {"name": example["metadata"]["name"], "key": "reasoning-key"}
        },
    }
    assert "LLMPROXY_REASONING_KEY" in _ENV
    # Kubernetes waits for the preStop pause plus the drain before it kills the pod.
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert settings.shutdown_grace == 300
    assert (
        spec["terminationGracePeriodSeconds"] >= float(pre_stop[1]) + settings.shutdown_grace + 10
    )


def test_autoscaler_and_disruption_budget() -> None:
    kinds = by_kind()
    hpa, pdb = kinds["HorizontalPodAutoscaler"], kinds["PodDisruptionBudget"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70},
            },
        }
    ]
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"], "a node can be drained"


def test_network_policy_allows_only_http_in_and_https_dns_out() -> None:
    policy = by_kind()["NetworkPolicy"]["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    ingress_ports = [p for rule in policy["ingress"] for p in rule["ports"]]
    assert ingress_ports == [{"protocol": "TCP", "port": 8080}]
    assert {"podSelector": {}} in policy["ingress"][0]["from"], "the namespace itself"
    egress = sorted((p["protocol"], p["port"]) for rule in policy["egress"] for p in rule["ports"])
    assert egress == [("TCP", 53), ("TCP", 443), ("UDP", 53)]
    for rule in policy["egress"]:
        assert set(rule) == {"ports"}


# -- Dockerfile --------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    assert not pending, "dangling continuation"
    return out


def test_dockerfile_contract() -> None:
    ins = dockerfile_instructions()
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for w, a in ins if w == "ARG" and "=" in a}
    stages = [a for w, a in ins if w == "FROM"]
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    assert stages == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE} AS runtime"]
    runtime = ins[[w for w, _ in ins].index("FROM", 2) :]
    runs = " ".join(a for w, a in ins if w == "RUN")
    assert "pip wheel" in runs
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in runtime
    env = " ".join(a for w, a in runtime if w == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "LLMPROXY_LOG_FORMAT=json" in env
    (user,) = [a for w, a in runtime if w == "USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), "a numeric uid, so runAsNonRoot can check it"
    assert gid.isdigit()
    assert int(uid) != 0
    assert int(gid) != 0
    security = by_kind()["Deployment"]["spec"]["template"]["spec"]["securityContext"]
    assert (security["runAsUser"], security["runAsGroup"]) == (int(uid), int(gid))
    (health,) = [a for w, a in runtime if w == "HEALTHCHECK"]
    check = json.loads(health.split("CMD", 1)[1])
    assert check[:2] == ["python", "-c"]
    assert "urllib.request" in check[2]
    assert "/healthz" in check[2]
    compile(check[2], "<healthcheck>", "exec")
    (entrypoint,) = [a for w, a in runtime if w == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["llmproxy", "serve", "--host", "0.0.0.0"]
    # The build context (.dockerignore) keeps what the COPY lines need.
    ignore = (ROOT / ".dockerignore").read_text().split()
    for copied in ("pyproject.toml", "setup.cfg", "README.md", "llmproxy/", "routes/"):
        assert f"!{copied}" in ignore
    for w, a in ins:
        if w == "COPY" and not a.startswith("--from"):
            for src in shlex.split(a)[:-1]:
                assert (ROOT / src).exists(), src


# -- Prometheus and Grafana --------------------------------------------------------------------


def exposed_series_names() -> set[str]:
    """Every series name the gateway's /metrics can expose (and a histogram's own name)."""
    suffixes = {
        "counter": ("_total",),
        "gauge": ("",),
        "histogram": ("", "_bucket", "_count", "_sum"),
    }
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.update(family.name + s for s in suffixes[family.type])
    return names


def referenced(text: str) -> set[str]:
    return set(re.findall(r"\bllmproxy_[a-z_]+[a-z]", text))


def test_promtool_check_rules() -> None:
    result = run(require_binary("promtool"), "check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_test_rules() -> None:
    result = run(require_binary("promtool"), "test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alert_rules_cover_the_brief() -> None:
    rules = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    exprs = {r["alert"]: r["expr"] for r in rules}
    assert 'llmproxy_requests_total{outcome!="ok"}' in exprs["LLMProxyErrorRatioHigh"]
    assert "llmproxy_time_to_first_event_seconds_bucket" in exprs["LLMProxyTimeToFirstEventHigh"]
    assert "histogram_quantile(0.95" in exprs["LLMProxyTimeToFirstEventHigh"]
    assert "llmproxy_overhead_seconds_bucket" in exprs["LLMProxyOverheadHigh"]
    assert "histogram_quantile(0.99" in exprs["LLMProxyOverheadHigh"]
    assert "llmproxy_streams_in_progress" in exprs["LLMProxyStreamsSaturated"]
    assert "container_cpu_usage_seconds_total" in exprs["LLMProxyCPUSaturated"]
    tested = {t["alertname"] for c in yaml.safe_load(ALERTS_TEST.read_text())["tests"]
              for t in c["alert_rule_test"]}  # fmt: skip
    assert tested == set(exprs), "every alert has a promtool unit test"
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert {"summary", "description"} <= rule["annotations"].keys()


def dashboard() -> Doc:
    doc = json.loads(DASHBOARD.read_text())
    assert isinstance(doc, dict)
    return doc


def dashboard_queries() -> list[str]:
    """Every panel query, with Grafana's variables replaced by plain PromQL."""
    subs = {"$__rate_interval": "5m", "$job": ".*", "$route": ".*"}
    out = []
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for var, value in subs.items():
                expr = expr.replace(var, value)
            out.append(expr)
    return out


def test_dashboard_is_a_grafana_dashboard() -> None:
    doc = dashboard()
    assert doc["uid"] == "llmproxy"
    assert isinstance(doc["schemaVersion"], int)
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids: set[int] = set()
    cells: set[tuple[int, int]] = set()
    for panel in doc["panels"]:
        assert panel["id"] not in ids
        ids.add(panel["id"])
        assert panel["type"] == "timeseries"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        grid = panel["gridPos"]
        assert grid["x"] >= 0
        assert grid["x"] + grid["w"] <= 24
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"panel {panel['title']!r} overlaps another"
                cells.add((x, y))
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert ref_ids
        assert len(ref_ids) == len(set(ref_ids))
    titles = {p["title"] for p in doc["panels"]}
    assert {
        "Requests by outcome",
        "Request duration",
        "Time to first event",
        "Gateway overhead",
        "Tokens by kind",
        "Streams in progress",
        "Upstream responses by status class",
        "Upstream retries",
        "Client disconnects",
    } <= titles


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each panel query, as a recording rule."""
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": e}
                    for i, e in enumerate(dashboard_queries())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    result = run(require_binary("promtool"), "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_metric_named_exists_and_every_metric_is_shown() -> None:
    exposed = exposed_series_names()
    alerts = referenced(ALERTS.read_text())
    panels = referenced(DASHBOARD.read_text())
    assert alerts <= exposed, f"alerts name unknown metrics: {alerts - exposed}"
    assert panels <= exposed, f"the dashboard names unknown metrics: {panels - exposed}"
    # process_* (the standard process collector) is scraped but not charted here.
    families = {f.name for f in Metrics().registry.collect() if f.name.startswith("llmproxy_")}
    unshown = {f for f in families if not any(n.startswith(f) for n in panels)}
    assert not unshown, f"metrics with no dashboard panel: {unshown}"


def test_readme_documents_every_metric() -> None:
    """The README's metric table has a row per metric, naming each of its labels."""
    section = (ROOT / "README.md").read_text().split("## Running it in a cluster", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| `llmproxy_")]
    suffix = {"counter": "_total", "gauge": "", "histogram": ""}
    documented = set()
    for metric in vars(Metrics()).values():
        kind = getattr(metric, "_type", None)
        if kind not in suffix:
            continue
        name = f"{metric._name}{suffix[kind]}"
        row = next((r for r in rows if r.startswith(f"| `{name}`")), None)
        assert row is not None, f"README has no row for {name}"
        for label in metric._labelnames:
            assert f"`{label}`" in row, f"README's row for {name} misses the label {label}"
        documented.add(name)
    assert len(documented) == len(rows), "one row per metric"
