"""Colab's way into the handout: `release` also zips the handout as handout.zip, and the notebook's first cell,
run in Colab, installs the handout from that zip uploaded to Colab's folder (or from a clone, where the
instructor fills in the repository) and makes the handout's folder the working folder.

Colab comes with torch, numpy, pytest, rich and IPython. The cell installs the handout without its dependencies,
so that Colab's torch stays whatever its version (the handout's pyproject asks for a range), then the others,
which pip finds already there.
"""
from pathlib import Path

from grader.archives import folder_entries, write_zip
from grader.handout_texts import DEPENDENCIES
from grader.installation import TORCH_REQUIREMENT

HANDOUT_ZIP = "handout.zip"  # written into the release folder, beside the files it holds
HANDOUT_FOLDER = "handout"  # the zip's one top folder: unzipped anywhere, the handout is one folder
OTHER_DEPENDENCIES = tuple(r for r in DEPENDENCIES if r != TORCH_REQUIREMENT)

# Outside Colab it only imports os and sys: Jupyter, JupyterLab and VS Code run a handout installed with pip.
INSTALL_CELL = f"""\
# In Colab, this cell installs the handout (the grader with its public checks) and works in its folder:
# first upload {HANDOUT_ZIP} to the Files pane on the left. Anywhere else it does nothing.
import os, sys

HANDOUT_REPOSITORY = ""  # your instructor may fill in the handout's git address, to clone it instead
if "google.colab" in sys.modules and os.path.basename(os.getcwd()) != "{HANDOUT_FOLDER}":
    import subprocess, zipfile

    if not os.path.isdir("{HANDOUT_FOLDER}") and os.path.isfile("{HANDOUT_ZIP}"):
        zipfile.ZipFile("{HANDOUT_ZIP}").extractall()  # its files are in {HANDOUT_FOLDER}/
    elif not os.path.isdir("{HANDOUT_FOLDER}") and HANDOUT_REPOSITORY:
        subprocess.run(["git", "clone", "-q", HANDOUT_REPOSITORY, "{HANDOUT_FOLDER}"], check=True)
    if os.path.isdir("{HANDOUT_FOLDER}"):
        pip = [sys.executable, "-m", "pip", "install", "-q"]
        # Colab's own torch stays: the handout without its dependencies, then those besides torch.
        subprocess.run([*pip, "--no-deps", "./{HANDOUT_FOLDER}"], check=True)
        subprocess.run([*pip, {", ".join(f'"{r}"' for r in OTHER_DEPENDENCIES)}], check=True)
        os.chdir("{HANDOUT_FOLDER}")
    else:
        print("Upload {HANDOUT_ZIP} to the Files pane on the left, then run this cell again.")"""


def write_handout_zip(release_dir: Path) -> Path:
    """Zip every file of the release folder (but an older zip) into release_dir/handout.zip, under handout/;
    the same files give the same bytes. Returns the zip's path."""
    entries = [entry for entry in folder_entries(release_dir, HANDOUT_FOLDER)
               if entry[0] != f"{HANDOUT_FOLDER}/{HANDOUT_ZIP}"]
    write_zip(release_dir / HANDOUT_ZIP, entries)
    return release_dir / HANDOUT_ZIP
