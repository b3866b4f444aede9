"""What this machine is: its CPU's model and the flags that decide which kernels a run gets. Torch-free, so
that provenance and the attempt ledger can name the CPU without loading the training stack."""

from __future__ import annotations

import platform
import re
from functools import lru_cache
from pathlib import Path

# The /proc/cpuinfo flags that decide which kernels (and so which speed and which rounding) a CPU run gets.
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


def describe_cpu(cpuinfo: str | None) -> str:
    """'AMD EPYC [avx2 fma avx512f avx512_bf16]': the model name and the flags of ``CPU_FLAGS`` found in
    the text of /proc/cpuinfo; without that text (not Linux), ``platform``'s processor or machine name."""
    fallback = platform.processor() or platform.machine() or "unknown CPU"
    if not cpuinfo:
        return fallback
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    flags_line = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    flags = set(flags_line.group(1).split()) if flags_line else set()
    name = model.group(1).strip() if model else fallback
    return f"{name} [{' '.join(f for f in CPU_FLAGS if f in flags) or 'none of ' + '/'.join(CPU_FLAGS)}]"


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """This machine's CPU, as ``describe_cpu`` words it."""
    try:
        return describe_cpu(Path("/proc/cpuinfo").read_text())
    except OSError:
        return describe_cpu(None)
