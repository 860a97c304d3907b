from libsandbox.terminals._cli import main

raise SystemExit(main())
