"""Structural facts of the rendered overlays: probes, resources, GPU/CPU flavours, autoscaling, policies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.deploy.manifest_queries import Doc, all_containers, env_value, find, one, pod_spec, workloads

REPO = Path(__file__).resolve().parents[2]
OVERLAYS = ("overlays/cpu", "overlays/gpu")
GRPC_SERVICES = {
    "kairos-user-state": ("kairos.v1.UserState", 50051, "KAIROS_USER_STATE"),
    "kairos-ranker": ("kairos.v1.Ranker", 50052, "KAIROS_RANKER"),
}


def test_every_kustomization_renders(rendered: dict[str, list[Doc]]) -> None:
    assert set(rendered) >= {"overlays/cpu", "overlays/gpu", "examples/cpu-external-redis", "load"}
    for overlay in OVERLAYS:
        kinds = {d["kind"] for d in rendered[overlay]}
        assert kinds >= {
            "Namespace", "Deployment", "StatefulSet", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
            "NetworkPolicy", "ConfigMap", "Secret", "PersistentVolumeClaim", "PodMonitor", "PrometheusRule",
        }  # fmt: skip
        assert {d["metadata"]["name"] for d in find(rendered[overlay], "Deployment")} == {
            "kairos-user-state", "kairos-ranker", "kairos-triton",
        }  # fmt: skip
        namespaced = [d for d in rendered[overlay] if d["kind"] != "Namespace"]
        assert {d["metadata"].get("namespace") for d in namespaced} == {"kairos"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_grpc_services_have_native_grpc_probes(rendered: dict[str, list[Doc]], overlay: str) -> None:
    for name, (service, port, _prefix) in GRPC_SERVICES.items():
        container = pod_spec(one(rendered[overlay], "Deployment", name))["containers"][0]
        grpc_port = next(p["containerPort"] for p in container["ports"] if p["name"] == "grpc")
        assert grpc_port == port
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe]["grpc"]["port"] == port, f"{name} {probe}"
        # Readiness asks for the service itself, so a draining server (NOT_SERVING) leaves the endpoints.
        assert container["readinessProbe"]["grpc"]["service"] == service


@pytest.mark.parametrize("overlay", [*OVERLAYS, "load"])
def test_every_container_has_requests_and_limits(rendered: dict[str, list[Doc]], overlay: str) -> None:
    for workload in workloads(rendered[overlay]):
        for container in all_containers(workload):
            resources = container["resources"]
            for section in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[section]), (workload["metadata"]["name"], container["name"])
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert pod_spec(workload)["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_termination_grace_covers_the_drain(rendered: dict[str, list[Doc]], overlay: str) -> None:
    docs = rendered[overlay]
    for name, (_service, _port, prefix) in GRPC_SERVICES.items():
        config = name.removeprefix("kairos-")
        drain = float(env_value(docs, f"kairos-{config}", f"{prefix}_SHUTDOWN_DELAY_S")) + float(
            env_value(docs, f"kairos-{config}", f"{prefix}_GRACE_PERIOD_S")
        )
        grace = pod_spec(one(docs, "Deployment", name))["terminationGracePeriodSeconds"]
        assert grace > drain, f"{name}: terminationGracePeriodSeconds {grace} <= drain {drain}"


def test_gpu_overlay_builds_tensorrt_engines_on_the_gpu(rendered: dict[str, list[Doc]]) -> None:
    triton = one(rendered["overlays/gpu"], "Deployment", "kairos-triton")
    init = {c["name"]: c for c in pod_spec(triton)["initContainers"]}
    assert list(init) == ["export-onnx", "build-engines", "generate-repository"]
    onnx_dir = init["export-onnx"]["command"][init["export-onnx"]["command"].index("--out") + 1]
    build = init["build-engines"]
    assert build["image"].startswith("ghcr.io/kairos/kairos-tensorrt:")
    assert build["command"][:5] == ["python", "-m", "encoders.tensorrt", "build", "--onnx-dir"]
    assert build["command"][5] == onnx_dir
    assert build["resources"]["limits"]["nvidia.com/gpu"] == 1
    generate = init["generate-repository"]["command"]
    assert generate[generate.index("--flavor") + 1] == "tensorrt"
    server = pod_spec(triton)["containers"][0]
    assert server["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "--allow-gpu-metrics=true" in server["command"]
    assert any(t["key"] == "nvidia.com/gpu" for t in pod_spec(triton)["tolerations"])


def test_cpu_overlay_uses_onnxruntime_and_no_gpu(rendered: dict[str, list[Doc]], rendered_text: dict[str, str]) -> None:
    triton = one(rendered["overlays/cpu"], "Deployment", "kairos-triton")
    init = {c["name"]: c for c in pod_spec(triton)["initContainers"]}
    assert list(init) == ["export-onnx", "generate-repository"]
    generate = init["generate-repository"]["command"]
    assert generate[generate.index("--flavor") + 1] == "onnxruntime"
    assert "nvidia.com/gpu" not in rendered_text["overlays/cpu"]
    assert "tensorrt" not in rendered_text["overlays/cpu"].replace("encoders.tensorrt", "")


def test_tensorrt_and_triton_images_share_one_release(rendered: dict[str, list[Doc]]) -> None:
    triton_image = pod_spec(one(rendered["overlays/gpu"], "Deployment", "kairos-triton"))["containers"][0]["image"]
    release = re.fullmatch(r"nvcr\.io/nvidia/tritonserver:(\d+\.\d+)-py3", triton_image)
    assert release, triton_image
    dockerfile = (REPO / "deploy" / "docker" / "Dockerfile").read_text()
    assert f"ARG TENSORRT_IMAGE=nvcr.io/nvidia/tensorrt:{release.group(1)}-py3" in dockerfile


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_hpas_scale_deployments_on_a_custom_metric_the_adapter_serves(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    docs = rendered[overlay]
    adapter = yaml.safe_load((REPO / "deploy" / "prometheus" / "adapter-rules.yaml").read_text())
    served = {rule["name"]["as"] for rule in adapter["rules"]["custom"]}
    hpas = find(docs, "HorizontalPodAutoscaler")
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas} == {
        "kairos-user-state", "kairos-ranker", "kairos-triton",
    }  # fmt: skip
    for hpa in hpas:
        one(docs, hpa["spec"]["scaleTargetRef"]["kind"], hpa["spec"]["scaleTargetRef"]["name"])
        custom = [m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
        assert custom, f"{hpa['metadata']['name']} has no custom metric"
        assert set(custom) <= served
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pdbs_and_services_select_real_pods_and_ports(rendered: dict[str, list[Doc]], overlay: str) -> None:
    docs = rendered[overlay]
    pods = [(pod_spec(w), w["spec"]["template"]["metadata"]["labels"]) for w in workloads(docs)]

    def matching(selector: dict[str, str]) -> list[Doc]:
        return [spec for spec, labels in pods if selector.items() <= labels.items()]

    pdbs = find(docs, "PodDisruptionBudget")
    assert {p["metadata"]["name"] for p in pdbs} == {"kairos-user-state", "kairos-ranker", "kairos-triton"}
    for pdb in pdbs:
        assert matching(pdb["spec"]["selector"]["matchLabels"]), pdb["metadata"]["name"]
    for service in find(docs, "Service"):
        specs = matching(service["spec"]["selector"])
        assert specs, service["metadata"]["name"]
        named = {p["name"] for spec in specs for c in spec["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in named, (service["metadata"]["name"], port)


@pytest.mark.parametrize("overlay", [*OVERLAYS, "examples/cpu-external-redis", "load"])
def test_config_and_secret_references_resolve(rendered: dict[str, list[Doc]], overlay: str) -> None:
    docs = rendered[overlay]
    if overlay == "load":  # the load Job mounts the suite's auth Secret, rendered with an overlay
        docs = docs + rendered["overlays/cpu"]
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for workload in workloads(rendered[overlay]):
        spec = pod_spec(workload)
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in names
            if "secret" in volume:
                assert ("Secret", volume["secret"]["secretName"]) in names
            if "persistentVolumeClaim" in volume:
                assert ("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]) in names
        for container in all_containers(workload):
            for source in container.get("envFrom", []):
                assert ("ConfigMap", source["configMapRef"]["name"]) in names
            for env in container.get("env", []):
                if ref := env.get("valueFrom", {}).get("secretKeyRef"):
                    secret = one(docs, "Secret", ref["name"])
                    assert ref["key"] in secret.get("data", {}), (ref, secret["metadata"]["name"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_deny_by_default_and_open_each_service_port(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    docs = rendered[overlay]
    policies = find(docs, "NetworkPolicy")
    default = one(docs, "NetworkPolicy", "kairos-default-deny")
    assert default["spec"]["podSelector"] == {}
    assert set(default["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in default["spec"] and "egress" not in default["spec"]
    opened = {
        (policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name"), port["port"])
        for policy in policies
        for rule in policy["spec"].get("ingress", [])
        for port in rule.get("ports", [])
    }
    expected = {
        ("kairos-user-state", 50051), ("kairos-user-state", 9100),
        ("kairos-ranker", 50052), ("kairos-ranker", 9101),
        ("kairos-triton", 8001), ("kairos-triton", 8002),
        ("kairos-redis", 6379),
    }  # fmt: skip
    assert expected <= opened
    # Nothing but the ranker may call Triton.
    triton = one(docs, "NetworkPolicy", "kairos-triton")
    inference = next(r for r in triton["spec"]["ingress"] if r["ports"][0]["port"] == 8001)
    assert inference["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "kairos-ranker"}}}]


def test_redis_persists_with_aof_and_external_redis_replaces_it(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["overlays/cpu"]
    redis = one(docs, "StatefulSet", "kairos-redis")
    assert redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    config_name = next(v["configMap"]["name"] for v in pod_spec(redis)["volumes"] if "configMap" in v)
    conf = one(docs, "ConfigMap", config_name)["data"]["redis.conf"]
    settings = dict(line.split(None, 1) for line in conf.splitlines() if line and not line.startswith("#"))
    assert settings["appendonly"] == "yes"
    assert settings["appendfsync"] in {"always", "everysec"}
    assert settings["maxmemory-policy"] == "noeviction"
    assert settings["dir"] == "/data"

    external = rendered["examples/cpu-external-redis"]
    assert not find(external, "StatefulSet")
    assert not [s for s in find(external, "Service") if "redis" in s["metadata"]["name"]]
    secrets = [s for s in find(external, "Secret") if s["metadata"]["name"].startswith("kairos-redis-")]
    assert len(secrets) == 1 and set(secrets[0]["data"]) == {"url"}
    assert one(external, "NetworkPolicy", "kairos-allow-external-redis")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_podmonitor_scrapes_every_service_metrics_port(rendered: dict[str, list[Doc]], overlay: str) -> None:
    docs = rendered[overlay]
    monitor = one(docs, "PodMonitor", "kairos")
    selector = monitor["spec"]["selector"]["matchLabels"]
    port = monitor["spec"]["podMetricsEndpoints"][0]["port"]
    scraped = {
        w["metadata"]["name"]
        for w in workloads(docs)
        if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()
    }
    assert scraped == {"kairos-user-state", "kairos-ranker", "kairos-triton"}
    for name in scraped:
        container = pod_spec(one(docs, "Deployment", name))["containers"][0]
        assert port in {p["name"] for p in container["ports"]}


def test_every_alert_has_a_runbook_section(rendered: dict[str, list[Doc]]) -> None:
    rule = one(rendered["overlays/cpu"], "PrometheusRule", "kairos-slo")
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert len(alerts) >= 10
    readme = (REPO / "deploy" / "README.md").read_text()
    headings = {h.strip().lower() for h in re.findall(r"^#+\s+(.+)$", readme, flags=re.M)}
    for alert in alerts:
        assert alert["labels"]["severity"] in {"critical", "warning"}
        anchor = alert["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor == alert["alert"].lower()
        assert alert["alert"].lower() in headings, f"deploy/README.md has no section for {alert['alert']}"


def test_load_job_master_expects_every_worker(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["load"]
    master = pod_spec(one(docs, "Job", "kairos-load-master"))["containers"][0]["command"]
    worker_job = one(docs, "Job", "kairos-load-worker")
    expected = int(master[master.index("--expect-workers") + 1])
    assert expected == worker_job["spec"]["parallelism"] == worker_job["spec"]["completions"]
    worker = pod_spec(worker_job)["containers"][0]["command"]
    assert worker[worker.index("--master-host") + 1] == one(docs, "Service", "kairos-load-master")["metadata"]["name"]
    for job in (one(docs, "Job", "kairos-load-master"), worker_job):
        assert job["spec"]["template"]["metadata"]["labels"]["kairos.io/client"] == "true"
