from pallet.net.main import main

raise SystemExit(main())
