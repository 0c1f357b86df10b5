"""Cluster mode: palletd daemons that share desired state in etcd and run services across hosts."""
