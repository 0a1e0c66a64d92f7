"""The retraining CronJob and its one-off Job: rendered offline, they share the ranker's artifacts volume and the
retrain settings, and the ConfigMap they mount is a valid retrain config."""

from __future__ import annotations

import yaml

from recmodel.retrain.settings import RetrainSettings
from tests.deploy.manifest_queries import Doc, one


def _pod(doc: Doc) -> dict:
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    return spec["template"]["spec"]


def test_retrain_jobs_share_the_artifacts_volume_with_the_ranker(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["examples/retrain-now"]
    cron, job = one(docs, "CronJob", "kairos-retrain"), one(docs, "Job", "kairos-retrain-now")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert _pod(cron) == _pod(job)  # the one-off Job is the CronJob's pod
    ranker = one(docs, "Deployment", "kairos-ranker")["spec"]["template"]["spec"]
    claim = next(v for v in ranker["volumes"] if v["name"] == "artifacts")["persistentVolumeClaim"]["claimName"]
    pod = _pod(cron)
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["artifacts"]["persistentVolumeClaim"]["claimName"] == claim
    pvc = one(docs, "PersistentVolumeClaim", claim)
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]  # written by the Job, read by every ranker replica
    container = pod["containers"][0]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["artifacts"]["mountPath"] == "/artifacts" and not mounts["artifacts"].get("readOnly")
    ranker_args = ranker["containers"][0]["command"]
    served = ranker_args[ranker_args.index("--artifact") + 1]

    config_map = one(docs, "ConfigMap", volumes["config"]["configMap"]["name"])
    settings = RetrainSettings.model_validate(yaml.safe_load(config_map["data"]["retrain.yaml"]))
    assert str(settings.publish.link) == served == "/artifacts/current"
    assert str(settings.events.event_log) in {m["mountPath"] for m in container["volumeMounts"]}
    assert settings.report.pushgateway and settings.report.max_publish_age_s == 2 * 86400
    assert container["command"][-1] == f"{mounts['config']['mountPath']}/retrain.yaml"
    assert pod["initContainers"][0]["command"][:4] == ["python", "-m", "user_state.event_log", "compact"]


def test_the_retrain_pod_may_reach_redis_and_the_pushgateway_only(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["overlays/cpu"]
    policy = one(docs, "NetworkPolicy", "kairos-retrain")
    assert policy["spec"]["ingress"] == []
    assert sorted(p["ports"][0]["port"] for p in policy["spec"]["egress"]) == [6379, 9091]
    redis = one(docs, "NetworkPolicy", "kairos-redis")
    sources = [s["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for s in redis["spec"]["ingress"][0]["from"]]
    assert "kairos-retrain" in sources
