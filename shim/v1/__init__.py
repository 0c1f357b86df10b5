"""Generated from protos/pallet/shim/v1 by `make protos`."""
