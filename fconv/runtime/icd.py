"""Making pip-installed OpenCL runtimes visible to the ICD loader.

Intel's OpenCL CPU runtime from PyPI (``intel-opencl-rt``) installs
``libintelocl.so`` into ``<prefix>/lib`` but its ``.icd`` file names a
placeholder path, so the ICD loader never finds it. Before the first platform
query we give the loader a vendors directory of our own (``OCL_ICD_VENDORS``)
holding an .icd for every runtime we found plus every .icd the system already
has, so the system's vendors stay visible too.
"""
from __future__ import annotations

import glob
import hashlib
import os
import sys
import tempfile
from pathlib import Path
from .. import config

_SYSTEM_DIRS = ("/etc/OpenCL/vendors",)
_done = False


def _prefixes() -> list[Path]:
    seen, out = set(), []
    for p in (sys.prefix, sys.base_prefix, *(sys.path)):
        if not p:
            continue
        cand = Path(p)
        # site-packages -> prefix (…/lib/pythonX.Y/site-packages)
        if cand.name == "site-packages":
            cand = cand.parent.parent.parent
        if cand not in seen:
            seen.add(cand)
            out.append(cand)
    return out


def find_pip_runtimes() -> list[str]:
    """Paths of OpenCL runtime libraries installed by pip (Intel's CPU runtime)."""
    found = []
    for prefix in _prefixes():
        lib = prefix / "lib" / "libintelocl.so"
        if lib.is_file() and str(lib) not in found:
            found.append(str(lib))
    return found


def register() -> str | None:
    """Point the ICD loader at a vendors directory that includes pip runtimes.

    Idempotent; returns the directory used (None when nothing needed doing).
    Respects a user's own ``OCL_ICD_VENDORS`` when it names a file, and
    ``FCONV_NO_ICD_REGISTRATION=1`` turns it off.
    """
    global _done
    if _done or config.enabled("FCONV_NO_ICD_REGISTRATION"):
        return None
    _done = True
    runtimes = find_pip_runtimes()
    if not runtimes:
        return None
    existing = os.environ.get("OCL_ICD_VENDORS")
    vendor_dirs = list(_SYSTEM_DIRS)
    if existing:
        if os.path.isfile(existing):
            return None
        vendor_dirs.append(existing)
    lines = []
    for d in vendor_dirs:
        for icd in sorted(glob.glob(os.path.join(d, "*.icd"))):
            try:
                lib = Path(icd).read_text().strip()
            except OSError:
                continue
            if lib and "anaconda1anaconda2" not in lib and lib not in lines:
                lines.append(lib)
    for r in runtimes:
        if r not in lines:
            lines.append(r)
    key = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]
    out = Path(tempfile.gettempdir()) / f"fconv-icd-{os.getuid()}-{key}"
    out.mkdir(parents=True, exist_ok=True)
    for i, lib in enumerate(lines):
        f = out / f"{i:02d}-{Path(lib).stem}.icd"
        if not f.exists() or f.read_text().strip() != lib:
            tmp = f.with_suffix(".tmp")
            tmp.write_text(lib + "\n")
            os.replace(tmp, f)
    os.environ["OCL_ICD_VENDORS"] = str(out)
    return str(out)
