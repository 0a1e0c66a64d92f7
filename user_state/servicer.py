"""The kairos.v1.UserState gRPC servicer: validation, then the store."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.message import Message

from kairos.service.server import ServiceRegistration
from kairos.v1 import user_state_pb2
from user_state import wire
from user_state.store.base import EventStore
from user_state.validation import Validator

SERVICE_NAME = user_state_pb2.DESCRIPTOR.services_by_name["UserState"].full_name


def _serialize(response: Any) -> bytes:
    """Responses are either protobuf messages or bytes already encoded by user_state.wire."""
    return response if isinstance(response, bytes) else response.SerializeToString()


class UserStateServicer:
    """Implements AppendEvents, GetSequence, GetSequences and DeleteUser over an EventStore."""

    def __init__(self, store: EventStore, validator: Validator) -> None:
        self.store = store
        self.validate = validator

    async def AppendEvents(
        self, request: user_state_pb2.AppendEventsRequest, context: grpc.aio.ServicerContext
    ) -> user_state_pb2.AppendEventsResponse:
        events = self.validate.events(request.events)
        result = await self.store.append(events)
        return user_state_pb2.AppendEventsResponse(appended=result.appended, duplicates=result.duplicates)

    async def GetSequence(self, request: user_state_pb2.GetSequenceRequest, context: grpc.aio.ServicerContext) -> bytes:
        self.validate.user_id("user_id", request.user_id)
        flt = self.validate.filter(request.filter)
        [encoded] = await self.store.get_encoded_sequences([request.user_id], flt)
        return wire.get_sequence_response(encoded)

    async def GetSequences(
        self, request: user_state_pb2.GetSequencesRequest, context: grpc.aio.ServicerContext
    ) -> bytes:
        user_ids = self.validate.user_ids(request.user_ids)
        flt = self.validate.filter(request.filter)
        return wire.get_sequences_response(await self.store.get_encoded_sequences(user_ids, flt))

    async def DeleteUser(
        self, request: user_state_pb2.DeleteUserRequest, context: grpc.aio.ServicerContext
    ) -> user_state_pb2.DeleteUserResponse:
        self.validate.user_id("user_id", request.user_id)
        return user_state_pb2.DeleteUserResponse(deleted_events=await self.store.delete_user(request.user_id))


def registration(servicer: UserStateServicer) -> ServiceRegistration:
    """How KairosServer hosts the servicer (responses may be pre-encoded bytes, hence the own serializer)."""
    requests: dict[str, type[Message]] = {
        "AppendEvents": user_state_pb2.AppendEventsRequest,
        "GetSequence": user_state_pb2.GetSequenceRequest,
        "GetSequences": user_state_pb2.GetSequencesRequest,
        "DeleteUser": user_state_pb2.DeleteUserRequest,
    }
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name), request_deserializer=request.FromString, response_serializer=_serialize
        )
        for name, request in requests.items()
    }

    def register(server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
        server.add_registered_method_handlers(SERVICE_NAME, handlers)

    return ServiceRegistration(SERVICE_NAME, register)
