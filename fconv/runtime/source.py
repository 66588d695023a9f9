"""Finding and loading the OpenCL C sources in ``kernels/``.

The sources live in the top-level ``kernels/`` folder of a checkout; a wheel
installs them as ``fconv/_kernels`` (see pyproject.toml). ``#include "x.cl"``
lines are resolved textually here, so the resolved text is all a program
build (and the program cache key) ever sees.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from .. import config

_INCLUDE = re.compile(r'^\s*#include\s+"([^"]+)"\s*$', re.M)


@functools.lru_cache(maxsize=1)
def kernels_dir() -> Path:
    """The folder holding ``common.cl`` and the algorithm folders.

    Looked up in order: ``$FCONV_KERNELS_DIR``, ``fconv/_kernels`` (installed
    wheel), ``<checkout>/kernels`` (source checkout or editable install).
    """
    here = Path(__file__).resolve().parent.parent  # the fconv package
    candidates = []
    if config.flag("FCONV_KERNELS_DIR"):
        candidates.append(Path(config.flag("FCONV_KERNELS_DIR")))
    candidates += [here / "_kernels", here.parent / "kernels"]
    for c in candidates:
        if (c / "common.cl").is_file():
            return c
    raise FileNotFoundError(
        "fconv: cannot find the OpenCL kernel sources (common.cl); looked in "
        + ", ".join(str(c) for c in candidates))


@functools.lru_cache(maxsize=None)
def load_source(relpath: str) -> str:
    """The text of ``kernels/<relpath>`` with ``#include "..."`` lines inlined.

    Example: ``load_source("gemm/gemm.cl")``.
    """
    return _resolve(kernels_dir() / relpath, seen=())


def _resolve(path: Path, seen: tuple) -> str:
    if path in seen:
        return ""
    text = path.read_text()

    def inline(m: re.Match) -> str:
        inc = kernels_dir() / m.group(1)
        if not inc.is_file():
            inc = path.parent / m.group(1)
        return _resolve(inc, seen + (path,))

    return _INCLUDE.sub(inline, text)
