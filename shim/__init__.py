"""pallet-shim: one small process per container (see pallet.shim.main).

Importing this package must stay cheap: the shim is on every container start.
"""
