"""`python -m ecomdesk` is the same as the `ecomdesk` command."""

from ecomdesk.cli import main

raise SystemExit(main())
