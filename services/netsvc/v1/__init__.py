"""Generated from protos/pallet/net/v1 by `make protos`."""
