"""Child process: import exca as root, then become an ordinary user and run calls.

Usage: ``python as_user.py UID GID UMASK OPERATIONS_FILE CALLS_JSON`` (run as root).
Everything the calls need is imported, and a value of every codec written and read in
a private folder, while still root: the checkout and its virtual environment may live
where other users cannot enter. Then the process drops to ``UID``, primary and only
group ``GID``, sets ``UMASK`` (octal), and runs each ``[name, *args]`` of CALLS_JSON as
``name(*args)`` from OPERATIONS_FILE, printing the list of results as the last line.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile


def _warm_up() -> None:
    """Load every module a read or write may import lazily (codecs, zarr's plugins)."""
    import numpy as np

    import exca.store
    from exca.store import codec_names, get_codec

    for name in codec_names():
        try:
            get_codec(name)
        except ImportError:  # an optional codec (parquet without pandas)
            continue
    with tempfile.TemporaryDirectory() as folder:
        namespace = exca.store.Store(folder).namespace("warm")
        values = {"zarr": np.arange(4), "pickle": {1}, "npy": np.arange(3), "msgpack": 1}
        for codec, value in values.items():
            namespace.load(namespace.put(codec, value, codec=codec))
        namespace.put("nested", {"a": np.arange(2.0), "b": "x"})
        namespace.load_error(namespace.put_error("error", ValueError("x")))
        exca.store.Store(folder).verify()
        exca.store.Store(folder).gc(dry_run=True)
        _warm_up_steps(folder)
    if importlib.util.find_spec("exca.cli") is not None:
        importlib.import_module("exca.cli.main")
        importlib.import_module("exca.cli.store_commands")


def _warm_up_steps(folder: str) -> None:
    """Run a step (the Step API imports most of its modules on first use)."""
    from exca.steps import Step

    class WarmUp(Step):
        def _run(self, value: float) -> float:
            return value

    step = WarmUp(infra={"backend": "Cached", "folder": folder, "read_folders": [folder]})
    list(step.run_many([1.0, 2.0]))
    assert step.lookup(1.0).paths.cache_folder.is_dir()


def main() -> None:
    uid, gid, umask = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3], 8)
    name = os.path.splitext(os.path.basename(sys.argv[4]))[0]  # as the tests name it
    spec = importlib.util.spec_from_file_location(name, sys.argv[4])
    assert spec is not None and spec.loader is not None
    operations = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(operations)
    _warm_up()
    os.setgroups([gid])
    os.setgid(gid)
    os.setuid(uid)
    os.umask(umask)
    calls = json.loads(sys.argv[5])
    print(json.dumps([getattr(operations, name)(*args) for name, *args in calls]))


if __name__ == "__main__":
    main()
