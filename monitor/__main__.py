"""``python -m monitor`` is the ``liqmon`` command."""

from monitor.cli import main

raise SystemExit(main())
