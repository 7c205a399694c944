"""The ``exca`` command line: argument parsing and output only; facts come from
``exca.store``, imported when a subcommand runs (so ``exca --help`` stays fast)."""
