from pallet.images.main import main

raise SystemExit(main())
