from pallet.engine.main import main

raise SystemExit(main())
