"""Generated from protos/pallet/images/v1 by `make protos`."""
