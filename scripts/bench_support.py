"""What the benchmark scripts share (scripts/bench-train, scripts/compare-precision): where the tests' ESC-10
is, and what this machine's CPU is."""
import pathlib
import platform

ROOT = pathlib.Path(__file__).resolve().parent.parent


def default_data():
    """ESC-10 under the tests' shared folder: build/CMakeCache.txt's AVGRAPH_SHARED_DIR, else ../shared."""
    cache = ROOT / "build" / "CMakeCache.txt"
    if cache.exists():
        for line in cache.read_text().splitlines():
            if line.startswith("AVGRAPH_SHARED_DIR:"):
                return pathlib.Path(line.split("=", 1)[1]) / "data" / "esc10"
    return ROOT.parent / "shared" / "data" / "esc10"


def cpu_info():
    """(model, native bf16) of this machine's CPU: the first "model name" of /proc/cpuinfo, and whether its
    flags have avx512_bf16 or amx_bf16 (what `avgraph --precision auto` looks for, graph/precision.h)."""
    model, flags = None, set()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and model is None:
                model = value.strip()
            elif key == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return model or platform.processor() or "unknown CPU", bool(flags & {"avx512_bf16", "amx_bf16"})
