"""Start-up of the installed app: launch → sign-in window on screen, for the PyInstaller bundle and,
as the reference measured in the same run, the development install (`.venv/bin/ecomdesk`); and the
bundle's size.

The window is watched from outside, as a person would see it: each launch runs the real app on an
Xvfb screen against a throwaway PostgreSQL, and `xdotool search`, asked every few milliseconds,
finds the sign-in window once it is mapped (each ask costs ~3 ms: that is the resolution).
Build the bundle first (`packaging/build-linux.sh`).

    .venv/bin/python tests/benchmarks/bench_startup.py [--bundle dist/ecomdesk] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench_grid import bench_database  # type: ignore[import-not-found,unused-ignore]

from ecomdesk.db import migrate
from ecomdesk.db.engine import make_engine

ROOT = Path(__file__).resolve().parents[2]
LOGIN_TITLE = "^Sign in — ecomdesk"


@contextmanager
def screen() -> Iterator[str]:
    """An Xvfb display of our own (the app under test must not find the developer's)."""
    for number in range(91, 120):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            break
    display = f":{number}"
    xvfb = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1600x900x24", "-nolisten", "tcp", "-noreset"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        # Ready when a client can talk to it, not merely when its socket file exists; -noreset
        # keeps it from restarting (and refusing the app) each time its last client leaves.
        while (
            subprocess.run(
                ["xdotool", "getdisplaygeometry"], env={"DISPLAY": display}, capture_output=True
            ).returncode
            != 0
        ):
            if time.monotonic() > deadline or xvfb.poll() is not None:
                raise RuntimeError(f"Xvfb did not start on {display}")
            time.sleep(0.05)
        yield display
    finally:
        xvfb.terminate()
        xvfb.wait()


def launch_to_login(command: list[str], env: dict[str, str]) -> float:
    """Seconds from spawning the app to its sign-in window being mapped on the screen."""
    started = time.perf_counter()
    app = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # Poll every few milliseconds (`xdotool search --sync` sleeps half a second between tries).
        while True:
            found = subprocess.run(
                ["xdotool", "search", "--onlyvisible", "--name", LOGIN_TITLE], env=env, capture_output=True
            )
            if found.returncode == 0:
                return time.perf_counter() - started
            if app.poll() is not None or time.perf_counter() - started > 60:
                raise RuntimeError(f"no sign-in window: {app.stderr.read().decode() if app.stderr else ''}")
            time.sleep(0.005)
    finally:
        app.send_signal(signal.SIGINT)  # the app's own Ctrl+C: quits like File → Quit
        try:
            app.wait(timeout=20)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()


def self_test_figure(command: list[str], url: str, env: dict[str, str]) -> float | None:
    """The self-test's own launch → login window figure (ms), for comparison."""
    result = subprocess.run(
        [*command, "--self-test", "--database-url", url], env=env, capture_output=True, text=True, timeout=180
    )
    match = re.search(r"launch → login window\s.*?([\d,.]+) ms", result.stdout)
    return float(match.group(1).replace(",", "")) if match else None


def folder_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_size for p in files), len(files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / "ecomdesk")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    bundle_exe = args.bundle / "ecomdesk"
    if not os.access(bundle_exe, os.X_OK):
        print(f"no bundle at {args.bundle}: build it with packaging/build-linux.sh", file=sys.stderr)
        return 2
    for tool in ("Xvfb", "xdotool"):
        if shutil.which(tool) is None:
            print(f"{tool} is needed: apt-get install xvfb xdotool", file=sys.stderr)
            return 2

    size, count = folder_size(args.bundle)
    tarballs = sorted(args.bundle.parent.glob("ecomdesk-*-linux-*.tar.gz"))
    print(f"bundle {args.bundle}: {size / 2**20:.0f} MiB in {count:,} files", end="")
    print(f"; tarball {tarballs[-1].name}: {tarballs[-1].stat().st_size / 2**20:.0f} MiB" if tarballs else "")
    largest = sorted(
        ((folder_size(p)[0], p.name) for p in (args.bundle / "_internal").iterdir() if p.is_dir()),
        reverse=True,
    )[:6]
    print("largest parts: " + ", ".join(f"{name} {s / 2**20:.0f} MiB" for s, name in largest))

    with (
        tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp,
        screen() as display,
        bench_database(None, None, tmp) as url,
    ):
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        home = Path(tmp) / "home"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_STATE_HOME": str(home / "state"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "XDG_RUNTIME_DIR": tmp,
            "DISPLAY": display,
            "LANG": "C.UTF-8",
        }
        commands = {
            "bundle": [str(bundle_exe)],
            "venv (reference)": [str(ROOT / ".venv" / "bin" / "ecomdesk")],
        }
        figures: dict[str, list[float]] = {}
        # Alternate the two so that neither gets a warmer cache or a quieter machine.
        for _ in range(args.runs):
            for name, command in commands.items():
                figures.setdefault(name, []).append(launch_to_login([*command, "--database-url", url], env))
        print(f"\nlaunch → sign-in window mapped on Xvfb, {args.runs} runs each (seconds)")
        print(f"  {'':18} {'median':>8} {'min':>8} {'max':>8} {'first':>8}")
        for name, times in figures.items():
            print(
                f"  {name:18} {statistics.median(times):8.3f} {min(times):8.3f} "
                f"{max(times):8.3f} {times[0]:8.3f}"
            )
        ratio = statistics.median(figures["bundle"]) / statistics.median(figures["venv (reference)"])
        print(f"  bundle ÷ venv: {ratio:.2f}×")
        print("\nthe self-test's own figure (launch → login window, less its checks before it):")
        for name, command in commands.items():
            figure = self_test_figure(command, url, env | {"QT_QPA_PLATFORM": "offscreen"})
            print(f"  {name:18} {figure:8.0f} ms" if figure is not None else f"  {name:18} (not printed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
