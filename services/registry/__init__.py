"""pallet-registry: an OCI Distribution registry (services/registry)."""
