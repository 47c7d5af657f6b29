from sgm_mlc.cli import main

raise SystemExit(main())
