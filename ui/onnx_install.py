# SPDX-License-Identifier: GPL-2.0-or-later
"""Is onnxruntime importable in QGIS's Python, and if not, which pip command installs it here.

QGIS embeds Python, so ``sys.executable`` is not always a Python interpreter (on Windows and
macOS it can be the QGIS binary); the command must name the interpreter QGIS really uses and the
flags its installation needs (PEP 668 "externally managed" system Pythons refuse plain installs).
"""

from __future__ import annotations

import importlib
import os
import platform
import shlex
import site
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path


def onnxruntime_error() -> str:
    """``""`` when onnxruntime imports, otherwise why it does not (missing, or a broken install)."""
    try:
        importlib.import_module("onnxruntime")
    except ImportError as exc:
        return str(exc) or "No module named 'onnxruntime'"
    except Exception as exc:  # a DLL or ABI problem inside the package: report it, never crash QGIS
        return f"{type(exc).__name__}: {exc}"
    return ""


def python_executable() -> str:
    """The Python interpreter of this QGIS, not the QGIS binary or whatever ``python3`` is on PATH.

    Embedded Python guesses ``sys.executable`` from PATH (a pyenv shim, another Python) or reports
    the QGIS binary, so look in this installation's own prefix first.
    """
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    prefix = Path(sys.exec_prefix)
    if os.name == "nt":
        candidates = [prefix / "python.exe", prefix / "python3.exe", prefix / "Scripts" / "python.exe"]
    else:
        candidates = [
            prefix / "bin" / f"python{version}",
            prefix / "bin" / "python3",
            prefix / "bin" / "python",
        ]
    exe = Path(sys.executable)
    if exe.name.lower().startswith("python"):
        candidates.append(exe)
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    return str(exe)


def package_name(system: str | None = None, machine: str | None = None) -> str:
    """``onnxruntime-gpu`` where CUDA wheels exist (it also runs on CPU), plain ``onnxruntime`` elsewhere."""
    system = system or platform.system()
    machine = (machine or platform.machine()).lower()
    if system in ("Linux", "Windows") and machine in ("x86_64", "amd64"):
        return "onnxruntime-gpu"
    return "onnxruntime"


def externally_managed() -> bool:
    """True for a PEP 668 system Python (Debian, Ubuntu): pip needs ``--user --break-system-packages``."""
    if sys.prefix != sys.base_prefix:  # a virtual environment is always pip's to manage
        return False
    stdlib = sysconfig.get_path("stdlib")
    return bool(stdlib) and (Path(stdlib) / "EXTERNALLY-MANAGED").exists()


def site_packages_writable() -> bool:
    """Whether pip may write into QGIS's site-packages (tried, because os.access lies on Windows)."""
    purelib = sysconfig.get_path("purelib")
    if not purelib or not os.path.isdir(purelib):
        return False
    try:
        with tempfile.TemporaryFile(dir=purelib):
            return True
    except OSError:
        return False


def pip_install_args(
    python: str,
    package: str,
    *,
    is_externally_managed: bool,
    writable: bool,
    in_venv: bool,
    numpy_version: str = "",
) -> list[str]:
    """The argument list of the pip call that installs ``package`` for ``python``."""
    args = [python, "-m", "pip", "install", "--upgrade", package]
    if numpy_version:
        # Pinning keeps pip from replacing the numpy that QGIS's GDAL bindings are built against.
        args.append(f"numpy=={numpy_version}")
    if in_venv:
        return args
    if is_externally_managed:
        return [*args, "--user", "--break-system-packages"]
    if not writable:
        return [*args, "--user"]
    return args


def install_args() -> list[str]:
    """The pip call for this QGIS, this platform."""
    return pip_install_args(
        python_executable(),
        package_name(),
        is_externally_managed=externally_managed(),
        writable=site_packages_writable(),
        in_venv=sys.prefix != sys.base_prefix,
        numpy_version=_numpy_version(),
    )


def _numpy_version() -> str:
    try:
        import numpy
    except ImportError:
        return ""
    return str(numpy.__version__)


def command_line(args: list[str]) -> str:
    """``args`` as the user would type them in this platform's shell."""
    if os.name == "nt":
        return subprocess.list2cmdline(args)
    return shlex.join(args)


def refresh_import_paths() -> None:
    """Make a package installed with ``--user`` importable without restarting QGIS.

    Python only adds the user site folder at start-up when it already exists; a first ``--user``
    install creates it, so add it now.
    """
    importlib.invalidate_caches()
    user_site = site.getusersitepackages()
    if site.ENABLE_USER_SITE and os.path.isdir(user_site) and user_site not in sys.path:
        site.addsitedir(user_site)
    sys.modules.pop("onnxruntime", None)
