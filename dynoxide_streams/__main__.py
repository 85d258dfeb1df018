from dynoxide_streams.cli import main

raise SystemExit(main())
