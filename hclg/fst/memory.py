"""The memory guard's two helpers: how much memory is available, and giving freed heap
pages back to the operating system between the big steps of a graph recipe."""

from __future__ import annotations


def available_memory() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 << 30


def release_free_heap() -> None:
    """Returns freed heap pages to the OS (glibc's malloc_trim), where glibc is there."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
