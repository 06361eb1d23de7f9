"""`meson install` (docs/configuration.md "Installing"): the CLI, the emulator and the manual
page land under the prefix, and the installed CLI runs."""
import glob
import os
import subprocess
import sys
import tempfile

BUILD = os.environ["OSSURING_BUILD"]

with tempfile.TemporaryDirectory(prefix="ossuring-install-") as dest:
    r = subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild", "--quiet", "--destdir",
                        dest], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    cli = glob.glob(os.path.join(dest, "**", "bin", "ossuring"), recursive=True)
    emu = glob.glob(os.path.join(dest, "**", "bin", "ossemu"), recursive=True)
    man = glob.glob(os.path.join(dest, "**", "man1", "ossuring.1"), recursive=True)
    assert len(cli) == 1 and len(emu) == 1 and len(man) == 1, (cli, emu, man)
    r = subprocess.run([cli[0], "help", "mount"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "--endpoint" in r.stdout, r
    with open(man[0]) as f:
        page = f.read()
    assert page.startswith(".TH OSSURING 1") and "\\-\\-endpoint" in page
    print("ok   installed", os.path.relpath(cli[0], dest), os.path.relpath(man[0], dest))
sys.exit(0)
