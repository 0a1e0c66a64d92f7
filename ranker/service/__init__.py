"""The ranker gRPC service: Recommend (micro-batched), UpsertItems, DeleteItems, hot reload."""
