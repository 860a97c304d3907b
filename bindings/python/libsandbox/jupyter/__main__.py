from libsandbox.jupyter._cli import main

raise SystemExit(main())
