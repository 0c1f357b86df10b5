"""Generated from protos/pallet/registry/v1 by `make protos`."""
