"""The Helm chart: Helm's own lint and render (as a library), Kubernetes schema checks.

No helm binary and no cluster: ``helm-python-sdk`` binds Helm's Go SDK, renders offline,
and ``kubernetes-validate`` checks every rendered object against the published OpenAPI
schemas of the Kubernetes versions we support.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from gateway.platform.settings import Settings

CHART = Path(__file__).resolve().parents[2] / "helm" / "satugate"
OLDEST_SUPPORTED = "1.30.0"
KUBE_VERSIONS = sorted({OLDEST_SUPPORTED, latest_version()})
RELEASE = "satugate"
NAMESPACE = "gov-surabaya"

VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "single-replica": {"autoscaling": {"enabled": False}, "replicaCount": 1},
    "fixed-replicas": {"autoscaling": {"enabled": False}, "replicaCount": 3},
    "no-redis": {"redis": {"enabled": False}},
    "tightened": {
        "image": {"digest": "sha256:" + "ab" * 32},
        "sources": {"existingSecret": "city-sources", "key": "sources-2026.yaml"},
        "autoscaling": {"targetMemoryUtilizationPercentage": 80},
        "config": {"extra": {"lookup_rate": "300/minute"}, "policyDir": "/etc/policies"},
        "networkPolicy": {
            "ingressFrom": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                    }
                }
            ],
            "postgres": {"to": [{"ipBlock": {"cidr": "10.20.0.5/32"}}]},
            "redis": {"to": [{"ipBlock": {"cidr": "10.20.0.6/32"}}]},
            "extraEgress": [
                {
                    "to": [{"ipBlock": {"cidr": "10.30.0.0/16"}}],
                    "ports": [{"port": 443, "protocol": "TCP"}],
                }
            ],
        },
    },
    "no-extras": {
        "migrations": {"enabled": False},
        "networkPolicy": {"enabled": False},
        "podDisruptionBudget": {"enabled": False},
        "serviceAccount": {"create": False},
    },
}


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every object the chart renders, parsed (NOTES.txt excluded)."""
    with helm_python.Chart.load(CHART) as chart:
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def only(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def kinds(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(o["kind"] for o in objects)


def gateway_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = only(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    found: dict[str, Any] = container
    return found


# --- Helm lint and Kubernetes schemas -----------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_helm_lint_is_clean(variant: str) -> None:
    report = helm_python.lint(
        CHART, VARIANTS[variant], strict=True, namespace=NAMESPACE, kube_version="v1.33.0"
    )
    assert report["total_charts_linted"] == 1
    assert report["errors"] == []
    assert report["messages"] == []


def test_helm_lint_does_report_a_broken_chart(tmp_path: Path) -> None:
    """Guards the test above: lint must be able to fail."""
    broken = tmp_path / "broken"
    (broken / "templates").mkdir(parents=True)
    (broken / "Chart.yaml").write_text("apiVersion: v2\nname: broken\nversion: 0.1.0\n")
    (broken / "templates" / "cm.yaml").write_text("kind: ConfigMap\nmetadata: {{ .Values.x.y }\n")
    report = helm_python.lint(broken, strict=True)
    assert report["errors"] or any(m["severity"] >= 2 for m in report["messages"])


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_rendered_objects_match_the_kubernetes_schemas(variant: str, kube_version: str) -> None:
    objects = render(VARIANTS[variant])
    assert objects
    for obj in objects:
        # strict: unknown fields (a misspelt key) are errors too
        kubernetes_validate.validate(obj, kube_version, strict=True)


def test_schema_validation_does_reject_a_bad_object() -> None:
    deployment = only(render(), "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsUserr"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, latest_version(), strict=True)


# --- what the objects say ------------------------------------------------------------------


def test_default_release_objects() -> None:
    objects = render()
    assert kinds(objects) == [
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Job",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ]
    # the chart never carries a secret; it only refers to the operator's Secrets
    assert "Secret" not in kinds(objects)


def test_deployment_is_locked_down() -> None:
    objects = render()
    pod = only(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = gateway_container(objects)["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["privileged"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    # the only writable path is an emptyDir on /tmp
    mounts = {m["mountPath"]: m for m in gateway_container(objects)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    writable = [m for m in mounts.values() if not m.get("readOnly")]
    assert [m["mountPath"] for m in writable] == ["/tmp"]


def test_probes_and_resources() -> None:
    container = gateway_container(render())
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["command"] == ["satugate", "serve"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])


def test_secrets_come_from_references_and_the_key_from_a_file() -> None:
    objects = render()
    container = gateway_container(objects)
    env = {e["name"]: e for e in container["env"]}
    assert env["SATUGATE_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "satugate-database",
        "key": "url",
    }
    assert env["SATUGATE_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "satugate-redis",
        "key": "url",
    }
    assert env["SATUGATE_MASTER_KEY_FILE"]["value"] == "/run/secrets/satugate/master-key"
    assert not any(
        name.startswith("SATUGATE_MASTER_KEY") and "valueFrom" in e for name, e in env.items()
    )
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/run/secrets/satugate")
    assert mount["readOnly"] is True
    pod = only(objects, "Deployment")["spec"]["template"]["spec"]
    secret = next(v for v in pod["volumes"] if v["name"] == mount["name"])["secret"]
    assert secret["secretName"] == "satugate-master-key"
    assert secret["items"] == [{"key": "master-key", "path": "master-key"}]
    assert secret["defaultMode"] & 0o007 == 0  # not world-readable
    # the ConfigMap holds settings only, no credentials
    config = only(objects, "ConfigMap")["data"]
    assert not {"SATUGATE_DATABASE_URL", "SATUGATE_REDIS_URL", "SATUGATE_MASTER_KEY"} & set(config)


def test_every_setting_the_chart_passes_is_one_the_gateway_reads() -> None:
    objects = render(VARIANTS["tightened"])
    names = set(only(objects, "ConfigMap")["data"])
    names |= {e["name"] for e in gateway_container(objects)["env"]}
    names |= {
        e["name"] for e in only(objects, "Job")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    fields = {name.upper() for name in Settings.model_fields}
    unknown = {n for n in names if n.removeprefix("SATUGATE_") not in fields}
    assert unknown == set()


def test_selectors_point_at_the_gateway_pods() -> None:
    objects = render()
    pod_labels = only(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    selectors = [
        only(objects, "Deployment")["spec"]["selector"]["matchLabels"],
        only(objects, "Service")["spec"]["selector"],
        only(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        only(objects, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"],
    ]
    for selector in selectors:
        assert selector.items() <= pod_labels.items()
    job_labels = only(objects, "Job")["spec"]["template"]["metadata"]["labels"]
    assert not selectors[1].items() <= job_labels.items(), "the Service must not reach the job"
    target = only(objects, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert target == {"apiVersion": "apps/v1", "kind": "Deployment", "name": RELEASE}
    assert only(objects, "Service")["spec"]["ports"][0]["targetPort"] == "http"


def test_autoscaling_and_disruption_budget() -> None:
    objects = render()
    hpa = only(objects, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["minReplicas"] >= 2
    assert "replicas" not in only(objects, "Deployment")["spec"], "the HPA owns the count"
    assert only(objects, "PodDisruptionBudget")["apiVersion"] == "policy/v1"

    single = render(VARIANTS["single-replica"])
    assert only(single, "Deployment")["spec"]["replicas"] == 1
    # no HPA, and no PDB that would block every node drain
    assert "HorizontalPodAutoscaler" not in kinds(single)
    assert "PodDisruptionBudget" not in kinds(single)
    fixed = render(VARIANTS["fixed-replicas"])
    assert only(fixed, "Deployment")["spec"]["replicas"] == 3
    assert "PodDisruptionBudget" in kinds(fixed)


def _ports(rule: dict[str, Any]) -> set[tuple[int, str]]:
    return {(p["port"], p["protocol"]) for p in rule["ports"]}


def test_network_policy_allows_only_what_the_gateway_needs() -> None:
    policy = only(render(), "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["ingress"]
    assert _ports(ingress) == {(8000, "TCP")}
    egress_ports = [_ports(rule) for rule in policy["egress"]]
    assert egress_ports == [{(5432, "TCP")}, {(6379, "TCP")}, {(53, "UDP"), (53, "TCP")}]

    tightened = only(render(VARIANTS["tightened"]), "NetworkPolicy")["spec"]
    assert tightened["ingress"][0]["from"][0]["namespaceSelector"]
    assert tightened["egress"][0]["to"] == [{"ipBlock": {"cidr": "10.20.0.5/32"}}]
    assert tightened["egress"][1]["to"] == [{"ipBlock": {"cidr": "10.20.0.6/32"}}]
    assert _ports(tightened["egress"][-1]) == {(443, "TCP")}

    without_redis = only(render(VARIANTS["no-redis"]), "NetworkPolicy")["spec"]
    assert {(6379, "TCP")} not in [_ports(rule) for rule in without_redis["egress"]]


def test_without_redis_no_redis_url() -> None:
    env = {e["name"] for e in gateway_container(render(VARIANTS["no-redis"]))["env"]}
    assert "SATUGATE_REDIS_URL" not in env
    assert "SATUGATE_DATABASE_URL" in env


def test_migration_job_is_a_self_contained_hook() -> None:
    objects = render()
    job = only(objects, "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["command"] == ["satugate", "db", "upgrade"]
    env = {e["name"]: e for e in container["env"]}
    assert env["SATUGATE_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "satugate-database"
    # a pre-install hook runs before the release's objects exist: it must not need them
    assert "envFrom" not in container
    assert "serviceAccountName" not in pod
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_image_tag_and_digest() -> None:
    assert gateway_container(render())["image"] == "ghcr.io/satugate/satugate:0.1.0"
    pinned = gateway_container(render(VARIANTS["tightened"]))["image"]
    assert pinned == "ghcr.io/satugate/satugate@sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("variant", "secret", "key"),
    [
        ("defaults", "satugate-sources", "sources.yaml"),
        ("tightened", "city-sources", "sources-2026.yaml"),
    ],
)
def test_sources_file_is_mounted_from_its_secret(variant: str, secret: str, key: str) -> None:
    objects = render(VARIANTS[variant])
    container = gateway_container(objects)
    env = {e["name"]: e.get("value") for e in container["env"]}
    path = Path(env["SATUGATE_SOURCES_FILE"])
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent))
    assert mount["readOnly"] is True
    pod = only(objects, "Deployment")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])["secret"]
    assert volume["secretName"] == secret
    assert volume["items"] == [{"key": key, "path": path.name}]


def test_settings_from_config_values() -> None:
    objects = render(VARIANTS["tightened"])
    config = only(objects, "ConfigMap")["data"]
    assert config["SATUGATE_LOOKUP_RATE"] == "300/minute"
    assert config["SATUGATE_POLICY_DIR"] == "/etc/policies"


def test_the_surface_beside_the_api_is_closed_by_default() -> None:
    """No /docs or /redoc, no /metrics without a token, only the issuer's host."""
    objects = render({})
    config = only(objects, "ConfigMap")["data"]
    assert config["SATUGATE_DOCS_ENABLED"] == "false"
    assert config["SATUGATE_METRICS_ENABLED"] == "false"
    trusted = config["SATUGATE_TRUSTED_HOSTS"].split(",")
    assert trusted[0] == "satugate.example.go.id" and len(trusted) == 5
    assert all(h.startswith("satugate") for h in trusted), "the issuer and the Service only"
    assert (
        not only(objects, "Deployment")["spec"]["template"]["metadata"]
        .get("annotations", {})
        .get("prometheus.io/scrape")
    )
    env = {
        e["name"]: e for e in gateway_container(render({"metrics": {"existingSecret": "m"}}))["env"]
    }
    assert env["SATUGATE_METRICS_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "m",
        "key": "token",
    }


def test_config_change_rolls_the_pods() -> None:
    def checksum(values: dict[str, Any]) -> str:
        deployment = only(render(values), "Deployment")
        return str(deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum({}) == checksum({})
    assert checksum({}) != checksum({"config": {"logLevel": "debug"}})


def test_required_secrets_are_enforced() -> None:
    with pytest.raises(helm_python.HelmError, match=re.escape("database.existingSecret")):
        render({"database": {"existingSecret": ""}})
    with pytest.raises(helm_python.HelmError, match=re.escape("masterKey.existingSecret")):
        render({"masterKey": {"existingSecret": ""}})
    with pytest.raises(helm_python.HelmError, match=re.escape("sources.existingSecret")):
        render({"sources": {"existingSecret": ""}})


def test_notes_name_the_secrets_to_create() -> None:
    with helm_python.Chart.load(CHART) as chart:
        notes = chart.render(None, name=RELEASE, namespace=NAMESPACE, is_install=True)
    text = next(v for k, v in notes.items() if k.endswith("NOTES.txt"))
    for secret in (
        "satugate-database",
        "satugate-redis",
        "satugate-master-key",
        "satugate-sources",
    ):
        assert secret in text


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"securityContext": {"readOnlyRootFilesystem": False}}, "readOnlyRootFilesystem"),
        ({"securityContext": {"allowPrivilegeEscalation": True}}, "allowPrivilegeEscalation"),
        ({"podSecurityContext": {"runAsNonRoot": False}}, "runAsNonRoot"),
        ({"replicaCount": 0}, "replicaCount"),
        ({"config": {"issuer": "satugate.example"}}, "issuer"),
        ({"config": {"logLevel": "loud"}}, "logLevel"),
        ({"image": {"digest": "latest"}}, "digest"),
        ({"databse": {"existingSecret": "x"}}, "databse"),
    ],
)
def test_values_schema_refuses_unsafe_or_misspelt_values(
    values: dict[str, Any], where: str
) -> None:
    """A typo or an insecure override fails at install time, not silently in the cluster."""
    with helm_python.Chart.load(CHART) as chart:
        chart.validate_schema(None)
        with pytest.raises(helm_python.HelmValuesError, match=where):
            chart.validate_schema(values)
    report = helm_python.lint(CHART, values, strict=True)
    assert report["errors"]
