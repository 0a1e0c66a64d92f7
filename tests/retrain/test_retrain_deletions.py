"""A privacy deletion reaches retraining: events appended over gRPC to a real user-state server, DeleteUser,
kill -9 and restart; retrain's reader and cut (recmodel.retrain.events) see none of the deleted user's earlier
events, and the user's events after the deletion as a new history."""

from __future__ import annotations

import numpy as np
import pytest

from recmodel.retrain.events import cut_events, read_events
from recmodel.retrain.settings import EventsSource, HoldoutSettings, WindowSettings
from tests.user_state.builders import T0, ev
from tests.user_state.test_event_log_process import start
from user_state.client import UserStateClient

pytestmark = pytest.mark.integration


async def test_retrain_reads_no_event_of_a_deleted_user_from_before_the_deletion(tmp_path) -> None:
    data_dir = tmp_path / "data"
    flags = ["--data-dir", str(data_dir), "--max-events-per-user", "4"]  # the store keeps 4, the log all
    proc, address, _ = start(tmp_path, "first", *flags)
    async with UserStateClient(address, default_timeout_s=10) as client:
        for user in ("a", "b", "c"):
            await client.append_events([ev(user, f"{user}{k}", T0 + k * 1000, item=f"i{k}") for k in range(10)])
        assert await client.delete_user("b") == 4
        await client.append_events([ev("b", "b-new", T0 + 20_000, item="i1")])
        await client.append_events([ev("b", "b0", T0, item="i0")])  # an old event re-sent after the deletion
    proc.kill9()
    proc, address, _ = start(tmp_path, "second", *flags)
    assert proc.terminate() == 0, proc.log_text()

    table = read_events(EventsSource(event_log=data_dir / "event-log"))
    assert len(table) == 22
    users = table.user_ids.tolist()
    assert users.count("a") == users.count("c") == 10 and users.count("b") == 2
    assert sorted(table.item_ids[table.user_ids == "b"].tolist()) == ["i0", "i1"]
    cut = cut_events(
        table, {f"i{k}" for k in range(10)}, WindowSettings(days=None), HoldoutSettings(fraction=0.1, min_cases=1)
    )
    window = cut.window
    assert np.sort(window.timestamps_ms[window.user_ids == "b"]).tolist() == [T0, T0 + 20_000]
    assert cut.summary()["users"] == 3 and cut.summary()["events"] == 22
