"""Generated gRPC stubs for the kairos.v1 contracts (built from protos/ by `make protos`)."""
