"""`python -m petagrad info`: the devices found, the C compiler, the cache directory and
the settings in force. Imports the public package and the runtime registry."""
from __future__ import annotations

import argparse
import sys

from petagrad import config
from petagrad.runtime import ccompiler
from petagrad.runtime.device import DEVICE_MODULES, default_device, get_device


def info() -> None:
    print("petagrad devices:")
    for name in DEVICE_MODULES:
        try:
            print(f"  {get_device(name).describe()}")
        except Exception as exc:  # a missing driver is information here, not a failure
            print(f"  {name}: unavailable ({exc})")
    print(f"default device: {default_device()}")
    cc = ccompiler.find_compiler()
    print(f"C compiler: {cc or 'none found (install gcc or set PETAGRAD_CC)'}")
    if cc:
        print(f"  flags: {' '.join(ccompiler.effective_flags())}")
        print(f"  OpenMP: {'yes' if ccompiler.has_openmp() else 'no'}")
    print(f"kernel cache: {ccompiler.cache_dir()}")
    print("settings:")
    for setting in config.SETTINGS.values():
        print(f"  {setting.env:<22} = {setting.value!r:<28} {setting.help}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m petagrad")
    parser.add_argument("command", choices=["info"], help="what to show")
    parser.parse_args(argv)
    info()
    return 0


if __name__ == "__main__":
    sys.exit(main())
