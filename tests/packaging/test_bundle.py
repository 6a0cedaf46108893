"""The installed app: `packaging/build-linux.sh` builds the one-folder bundle, and the bundle works
with no Python on the machine — `--version`, `db upgrade`, `user create` and the offscreen
self-test on a real database and on a fresh embedded demo.

The build takes about a minute, so it happens once per test session, into a temporary folder; the
tests then run the frozen executable as a staff machine would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import ecomdesk

ROOT = Path(__file__).resolve().parents[2]
APP_ID = ecomdesk.APP_ID

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bundle built by the README's script, from this checkout's .venv (no re-install: other
    test workers import from it meanwhile)."""
    out = tmp_path_factory.mktemp("bundle")
    result = subprocess.run(
        [
            str(ROOT / "packaging" / "build-linux.sh"),
            "--no-setup",
            "--no-tarball",
            "--out",
            str(out / "dist"),
            "--work",
            str(out / "work"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"build failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    folder = out / "dist" / "ecomdesk"
    yield folder
    shutil.rmtree(out, ignore_errors=True)


def _python_locations() -> list[Path]:
    """Every place a Python could be found: this interpreter, its venv, the system's."""
    places = {Path(sys.base_prefix), Path(sys.prefix)}
    if Path(sys.base_prefix).parent.name == "versions":  # pyenv: every version it holds
        places.add(Path(sys.base_prefix).parent)
    for pattern in (
        "usr/lib/python3*",
        "usr/local/lib/python3*",
        "usr/bin/python*",
        "usr/local/bin/python*",
        "usr/lib/*/libpython3*",
        "usr/lib/libpython3*",
    ):
        places.update(Path("/").glob(pattern))
    # Symbolic links are hidden through what they point to; a place inside a hidden folder is gone.
    real = sorted({p.resolve() for p in places if p.exists()})
    return [p for p in real if not any(q in p.parents for q in real)]


def run_without_python(argv: list[str], input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `argv` in a private mount namespace where every Python on the machine is hidden
    (folders under an empty tmpfs, files under /dev/null), so only the bundle's own can run."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is needed to hide Python from the bundle")
    hide = []
    for place in _python_locations():
        if place.is_dir():
            hide.append(f"mount -t tmpfs none {place}")
        else:
            hide.append(f"mount --bind /dev/null {place}")
    check = 'if python3 -c pass 2>/dev/null; then echo "python3 still runs" >&2; exit 99; fi'
    script = " && ".join([*hide, check, 'exec "$@"'])
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        input=input,
    )
    if result.returncode != 0 and "unshare failed" in result.stderr:
        pytest.skip(f"no private mount namespace here: {result.stderr.strip()}")
    assert result.returncode != 99, "Python was not hidden from the bundle"
    return result


def test_the_bundle_holds_the_executable_the_desktop_entry_and_icons(bundle: Path) -> None:
    assert os.access(bundle / "ecomdesk", os.X_OK)
    share = bundle / "share"
    desktop = (share / "applications" / f"{APP_ID}.desktop").read_text()
    assert "Exec=ecomdesk" in desktop and f"Icon={APP_ID}" in desktop
    assert (share / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    sizes = sorted(
        int(p.parent.parent.name.split("x")[0]) for p in share.glob(f"icons/hicolor/*x*/apps/{APP_ID}.png")
    )
    assert sizes == [16, 22, 24, 32, 48, 64, 128, 256, 512]
    assert (share / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    # The embedded demo's server binaries keep their executable bits inside the bundle.
    postgres = next(bundle.glob("_internal/pgserver/pginstall/bin/postgres"))
    assert os.access(postgres, os.X_OK)


def test_the_bundle_answers_its_version_with_no_python_on_the_machine(bundle: Path) -> None:
    result = run_without_python([str(bundle / "ecomdesk"), "--version"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"ecomdesk {ecomdesk.__version__}"


def test_the_bundle_sets_up_a_shop_database_and_passes_its_self_test_on_it(
    bundle: Path, empty_database_url: str
) -> None:
    exe = str(bundle / "ecomdesk")
    upgrade = run_without_python([exe, "db", "upgrade", "--database-url", empty_database_url])
    assert upgrade.returncode == 0, upgrade.stderr
    assert "→" in upgrade.stdout
    current = run_without_python([exe, "db", "current", "--database-url", empty_database_url])
    assert current.returncode == 0, current.stdout + current.stderr

    password = "a long staff password for the bundle"
    create = run_without_python(
        [
            exe,
            "user",
            "create",
            "--database-url",
            empty_database_url,
            "--email",
            "owner@bundle.shop",
            "--role",
            "admin",
            "--password-stdin",
        ],
        input=password + "\n",
    )
    assert create.returncode == 0, create.stderr

    test = run_without_python(
        [
            exe,
            "--self-test",
            "--database-url",
            empty_database_url,
            "--user",
            "owner@bundle.shop",
            "--password-stdin",
        ],
        input=password + "\n",
    )
    assert test.returncode == 0, test.stdout + test.stderr
    assert "self-test passed" in test.stdout
    assert "main window" in test.stdout and "SKIPPED" not in test.stdout

    # The headless worker, with its HTTP listener (uvicorn imports its parts by name at run time).
    worker = run_without_python(
        [exe, "worker", "--once", "--listen", "127.0.0.1:0", "--database-url", empty_database_url]
    )
    assert worker.returncode == 0, worker.stdout + worker.stderr
    assert "listening for webhooks on http://127.0.0.1:" in worker.stderr and "0 jobs done" in worker.stdout


def test_the_bundle_self_test_starts_its_own_embedded_demo(bundle: Path) -> None:
    test = run_without_python([str(bundle / "ecomdesk"), "--self-test"])
    assert test.returncode == 0, test.stdout + test.stderr
    assert "self-test passed" in test.stdout
