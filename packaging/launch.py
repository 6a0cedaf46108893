"""The frozen app's entry point: the same `ecomdesk` command as the installed package."""

from ecomdesk.cli import main

raise SystemExit(main())
