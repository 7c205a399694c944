"""``python -m exca``: the ``exca`` command."""

from exca.cli.main import main

raise SystemExit(main())
