"""pallet-netsvc: networks, sandboxes (network namespaces), IPAM, NAT, published ports and DNS."""
