from tagfeed.cli import main

raise SystemExit(main())
