"""Python client of the Kairos services (asyncio and blocking), typed results and one exception hierarchy.

from kairos.client import ItemFilter, RankerClient

async with RankerClient("ranker:50051", token="...", timeout_s=2.0) as ranker:
    rec = await ranker.recommend("user-42", k=10, filter=ItemFilter(include={"region": "eu"}))
    if rec.degraded:
        print(rec.degradations)
"""

from kairos.client.errors import (
    AbortedError,
    AlreadyExistsError,
    CallCancelledError,
    DataLossError,
    DeadlineExceededError,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    KairosError,
    NotFoundError,
    OutOfRangeError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
    UnknownError,
)
from kairos.client.inputs import Event, Item, ItemFilter
from kairos.client.ranker import RankerClient, SyncRankerClient
from kairos.client.results import (
    AppendResult,
    Degradation,
    DeleteResult,
    ItemResult,
    Recommendation,
    ScoredItem,
    SimilarItems,
    UpsertResult,
    UserSequence,
)
from kairos.client.user_state import SyncUserStateClient, UserStateClient
from kairos.service.channel import ChannelSettings

__all__ = [
    "AbortedError",
    "AlreadyExistsError",
    "AppendResult",
    "CallCancelledError",
    "ChannelSettings",
    "DataLossError",
    "DeadlineExceededError",
    "Degradation",
    "DeleteResult",
    "Event",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "Item",
    "ItemFilter",
    "ItemResult",
    "KairosError",
    "NotFoundError",
    "OutOfRangeError",
    "PermissionDeniedError",
    "RankerClient",
    "Recommendation",
    "ResourceExhaustedError",
    "ScoredItem",
    "SimilarItems",
    "SyncRankerClient",
    "SyncUserStateClient",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "UnknownError",
    "UpsertResult",
    "UserSequence",
    "UserStateClient",
]
