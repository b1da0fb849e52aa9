"""20 x SIGTERM at a random moment of `mastoprog simulate -n 10000000 -o x.parquet` (issue 13, by hand).

Run from the repository root with the package installed; each trial must leave no file behind.
"""

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

random.seed(20261130)
env = dict(os.environ)
results = []
for trial in range(20):
    folder = Path(tempfile.mkdtemp(prefix="sigterm-", dir="/tmp"))
    delay = random.uniform(0.5, 60.0)
    t0 = time.monotonic()
    command = ["nice", "-n", "10", sys.executable, "-m", "mastoprog.cli", "simulate", "-n", "10000000",
               "--no-progress", "-o", str(folder / "x.parquet")]
    proc = subprocess.Popen(command, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(delay)
    seen = sorted(p.name for p in folder.iterdir())
    size = sum(p.stat().st_size for p in folder.iterdir())
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    left = sorted(p.name for p in folder.iterdir())
    line = (f"trial {trial:2d}: SIGTERM after {delay:5.1f} s (files then: {len(seen)}, {size / 1e6:.0f} MB); "
            f"exit {proc.returncode}; left behind: {left}; traceback: {'Traceback' in err.decode()}")
    print(line, flush=True)
    results.append(not left)
    for p in folder.iterdir():
        p.unlink()
    folder.rmdir()
print(f"{sum(results)}/20 trials left no file")
