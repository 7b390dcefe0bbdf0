"""Run a hypothesis property test of a YAML loader in a child process with a capped address space.

Both hostile-YAML tests (``--config`` files and search spaces) need the same thing: import the
heavy modules first, cap RLIMIT_AS a little above what they hold, then feed the loader random
documents; an alias bomb that expanded, or a message that formatted one, dies on the cap.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEADROOM_MB = 512

_CHILD = textwrap.dedent("""
    import resource, tempfile
    from pathlib import Path
    import tests.conftest  # noqa: F401 - the repeatable hypothesis profile
    from hypothesis import given, settings
    {imports}

    {warm_up}  # validation imports torch, timm, torchaudio: before the cap, not under it
    with open("/proc/self/statm") as handle:
        held = int(handle.read().split()[0]) * resource.getpagesize()
    limit = held + {headroom} * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    path = Path(tempfile.mkdtemp()) / "doc.yaml"
    seen = []

    @settings(max_examples={examples}, deadline=None, database=None)
    @given(text={strategy})
    def fuzz(text):
        path.write_text(text)
        try:
            {load}(path)
        except {error} as err:
            assert len(str(err)) < 2000, "a message must never hold a whole value"
            seen.append("refused")
        else:
            seen.append("loaded")

    fuzz()
    print("ok", len(seen))
""")


def run_capped_fuzz(imports: str, warm_up: str, strategy: str, load: str, error: str, examples: int = 200) -> None:
    """Run the property test in a child; assert it drew ``examples`` documents and none escaped
    ``error`` or the memory cap."""
    code = _CHILD.format(imports=imports, warm_up=warm_up, strategy=strategy, load=load, error=error,
                         headroom=HEADROOM_MB, examples=examples)
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.split() == ["ok", str(examples)]
