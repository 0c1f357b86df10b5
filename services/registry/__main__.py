from pallet.registry.main import main

raise SystemExit(main())
