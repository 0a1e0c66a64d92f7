"""Service plumbing shared by every Kairos gRPC server and client, one concern per module."""
