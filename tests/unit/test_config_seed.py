"""The seed's watcher, written three ways, is one and the same program.

examples/seed/test.ini (circus), supervisord.conf and corral.toml must
resolve to the same argv, the same environment that matters, the same
stop signal and timeout, and the same output streams, so that a user can
move between them without a surprise.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.config import load
from corral.config.model import ProgramConfig

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed"


def essentials(prog: ProgramConfig) -> dict[str, object]:
    env = {k: v for k, v in prog.env if not k.startswith("SUPERVISOR_")}
    return {
        "argv": prog.argv_for(0),
        "numprocs": prog.numprocs,
        "env": env,
        "inherit_env": prog.inherit_env,
        "stop_signal": prog.stop_signal,
        "stop_timeout": prog.stop_timeout,
        "stdout": prog.stdout,
        "stderr": prog.stderr,
        "cwd": prog.cwd,
        "restart": prog.restart,
        "start_retries": prog.start_retries,
    }


@pytest.mark.parametrize("name", ["supervisord.conf", "corral.toml"])
def test_seed_formats_resolve_to_the_same_program(name: str) -> None:
    circus = load(str(SEED / "test.ini")).programs["test"]
    other = load(str(SEED / name)).programs["test"]
    assert essentials(other) == essentials(circus)
    assert essentials(circus)["argv"] == ("/bin/sh", "-c", "python3 test.py")
    assert essentials(circus)["env"] == {"PYTHONUNBUFFERED": "1"}
