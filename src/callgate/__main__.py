from callgate.cli import main

raise SystemExit(main())
