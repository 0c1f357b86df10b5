"""Generated from protos/pallet/engine/v1 by `make protos`."""
