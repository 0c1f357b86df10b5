"""`palletctl compose`: the Compose Specification model (model.py) and what runs it against palletd."""
