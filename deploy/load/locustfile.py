"""Locust scenario for Kairos: gRPC clients mixing Recommend, AppendEvents and UpsertItems.

Run through `python -m deploy.load.run` (headless, SLO-checked), or directly, e.g. distributed:
    KAIROS_LOAD_RANKER_ADDRESS=... KAIROS_LOAD_USER_STATE_ADDRESS=... \\
    locust -f deploy/load/locustfile.py --master            # and on each worker machine:
    locust -f deploy/load/locustfile.py --worker --master-host MASTER
Targets, credentials and the config file come from KAIROS_LOAD_* settings (deploy/load/settings.py); the task
weights and workload shape from the config file (deploy/load/slo.yaml).
"""

from __future__ import annotations

import random

from locust import between

from deploy.load.config import ConfigError, load_config
from deploy.load.grpc_user import GrpcUser
from deploy.load.payloads import PayloadFactory, make_png
from deploy.load.settings import LoadSettings

SETTINGS = LoadSettings()
CONFIG = load_config(SETTINGS.config)
WORKLOAD = CONFIG.workload
# Made once per process at start-up and shared by its users.
IMAGES = [make_png(WORKLOAD.image_size, random.Random(seed)) for seed in range(4)]

if (CONFIG.mix.recommend or CONFIG.mix.upsert_items) and not SETTINGS.ranker_address:
    raise ConfigError("KAIROS_LOAD_RANKER_ADDRESS (--ranker) is required: the mix has Recommend/UpsertItems")
if CONFIG.mix.append_events and not SETTINGS.user_state_address:
    raise ConfigError("KAIROS_LOAD_USER_STATE_ADDRESS (--user-state) is required: the mix has AppendEvents")


def recommend(user: KairosUser) -> None:
    """Top-k for a random known user."""
    user.call("Recommend", user.ranker.send, user.payloads.recommend(), WORKLOAD.deadline_s)


def append_events(user: KairosUser) -> None:
    """A small batch of fresh view events of one user."""
    user.call("AppendEvents", user.user_state.send, user.payloads.append_events(), WORKLOAD.deadline_s)


def upsert_items(user: KairosUser) -> None:
    """New items with generated text fields and a PNG image."""
    user.call("UpsertItems", user.ranker.send, user.payloads.upsert_items(), WORKLOAD.deadline_s)


class KairosUser(GrpcUser):
    """One backend client of the suite, picking its next RPC by the config file's weights."""

    tasks = {
        task: weight
        for task, weight in (
            (recommend, CONFIG.mix.recommend),
            (append_events, CONFIG.mix.append_events),
            (upsert_items, CONFIG.mix.upsert_items),
        )
        if weight > 0
    }
    wait_time = between(WORKLOAD.wait_min_s, WORKLOAD.wait_max_s)
    metadata = SETTINGS.bearer_metadata()
    tls_ca_file = SETTINGS.tls_ca_file

    def on_start(self) -> None:
        self.payloads = PayloadFactory(WORKLOAD, random.Random(), IMAGES)
        if SETTINGS.ranker_address:
            self.ranker = self.ranker_client(SETTINGS.ranker_address)
        if SETTINGS.user_state_address:
            self.user_state = self.user_state_client(SETTINGS.user_state_address)
