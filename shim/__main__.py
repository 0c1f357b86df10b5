"""`python -m pallet.shim` runs the shim's command line."""

from pallet.shim.main import main

raise SystemExit(main())
