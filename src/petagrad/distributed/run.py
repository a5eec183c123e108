"""Distributed layer: the launcher, `python -m petagrad.distributed.run -n 2 train.py ARGS`.

It runs `mpiexec -n N <this python> train.py ARGS` with the environment a container needs:
Open MPI's run-as-root variables when running as root, `--oversubscribe` for Open MPI
(more ranks than cores is fine for tests), and PETAGRAD_NUM_THREADS split between the
ranks so N ranks do not fight over the cores. It takes $MPIEXEC, or else prefers the
mpiexec next to this Python (the `mpich` wheel's), and fails with a clear error naming
the package when MPI is absent.
Imports: the standard library only (mpi4py is checked, not imported).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
from typing import Optional, Sequence

INSTALL_HINT = "pip install petagrad[mpi]  (or: pip install mpi4py mpich)"


def find_mpiexec() -> Optional[str]:
    """$MPIEXEC when set (a name on PATH or a path), else the mpiexec beside sys.executable
    (a pip-installed MPI), else the one on PATH."""
    chosen = os.environ.get("MPIEXEC")
    if chosen:
        return shutil.which(chosen) or chosen
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.access(beside, os.X_OK):
        return beside
    return shutil.which("mpiexec") or shutil.which("mpirun")


def is_open_mpi(mpiexec: str) -> bool:
    try:
        out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    text = out.stdout + out.stderr
    return "Open MPI" in text or "OpenRTE" in text or "open-mpi" in text


def command(nprocs: int, script: Sequence[str], mpiexec: str, open_mpi: bool,
            extra: Sequence[str] = ()) -> list[str]:
    """The mpiexec command line (a script path, or `-m module`, then its arguments)."""
    cmd = [mpiexec]
    if open_mpi:
        cmd.append("--oversubscribe")
    cmd += ["-n", str(nprocs), *extra, sys.executable, *script]
    return cmd


def environment(nprocs: int, open_mpi: bool, threads: Optional[int]) -> dict[str, str]:
    env = dict(os.environ)
    if open_mpi and hasattr(os, "geteuid") and os.geteuid() == 0:
        # containers run as root, which Open MPI refuses unless told twice
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    if threads is None and "PETAGRAD_NUM_THREADS" not in env:
        threads = max(1, (os.cpu_count() or 1) // nprocs)
    if threads is not None:
        env["PETAGRAD_NUM_THREADS"] = str(threads)
        env.setdefault("OMP_NUM_THREADS", str(threads))
    return env


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m petagrad.distributed.run",
        description="Run a petagrad script on N MPI processes (data-parallel training).")
    parser.add_argument("-n", "--nproc", "--nproc-per-node", dest="nprocs", type=int,
                        default=2, help="number of processes (ranks), default 2")
    parser.add_argument("--threads", type=int, default=None,
                        help="PETAGRAD_NUM_THREADS of each rank (default: cores / N)")
    parser.add_argument("--mpiexec", default=None,
                        help="the mpiexec to use (default: $MPIEXEC, the one beside this "
                        "Python, the one on PATH)")
    parser.add_argument("--mpi-arg", action="append", default=[],
                        help="an extra argument for mpiexec (repeatable)")
    parser.add_argument("-m", dest="module", default=None, help="run a module, as python -m")
    parser.add_argument("script", nargs="?", help="the script to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the script's arguments")
    options = parser.parse_args(argv)
    if options.nprocs < 1:
        parser.error(f"-n must be at least 1, got {options.nprocs}")
    if options.module:
        script = ["-m", options.module] + ([options.script] if options.script else [])
    elif options.script:
        script = [options.script]
    else:
        parser.error("give the script to run (or -m module)")
    script += options.args
    if importlib.util.find_spec("mpi4py") is None:
        print(f"petagrad.distributed.run: mpi4py is not installed for {sys.executable}; "
              f"install it with: {INSTALL_HINT}", file=sys.stderr)
        return 2
    mpiexec = options.mpiexec or find_mpiexec()
    if mpiexec is None:
        print(f"petagrad.distributed.run: no mpiexec found (beside {sys.executable} or on "
              f"PATH); install MPI with: {INSTALL_HINT}, or Debian's openmpi-bin",
              file=sys.stderr)
        return 2
    open_mpi = is_open_mpi(mpiexec)
    cmd = command(options.nprocs, script, mpiexec, open_mpi, options.mpi_arg)
    env = environment(options.nprocs, open_mpi, options.threads)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
