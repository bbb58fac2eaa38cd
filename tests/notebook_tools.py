"""The solution as a notebook saved by each tool students use, with the metadata and cells that tool writes.

Each builder takes the solution's code split into cells and returns the notebook's JSON text.
"""
import json

PNG_PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def _lines(source: str) -> list[str]:
    return source.splitlines(keepends=True)


def _code(source: str, **extra) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": _lines(source),
            **extra}


def colab(parts: list[str]) -> str:
    """Google Colab: its own metadata, an id per cell, a pip line and a Drive mount that fails off Colab."""
    cells = [{"cell_type": "markdown", "metadata": {"id": "intro"}, "source": ["# Chapter 3 in Colab"]},
             _code("!pip install -q torch\nfrom google.colab import drive\ndrive.mount('/content/drive')",
                   metadata={"id": "setup", "colab": {"base_uri": "https://localhost:8080/"}})]
    cells += [_code(part, metadata={"id": f"part{i}"}) for i, part in enumerate(parts)]
    return json.dumps({"nbformat": 4, "nbformat_minor": 0, "cells": cells, "metadata": {
        "colab": {"provenance": [], "gpuType": "T4"}, "accelerator": "GPU",
        "kernelspec": {"name": "python3", "display_name": "Python 3"}, "language_info": {"name": "python"}}})


def vscode(parts: list[str]) -> str:
    """VS Code: its interpreter hash, a language_info block and cell ids; sources as one string each."""
    cells = [{"cell_type": "code", "execution_count": 1, "id": f"c{i}", "metadata": {}, "outputs": [],
              "source": part} for i, part in enumerate(parts)]
    return json.dumps({"nbformat": 4, "nbformat_minor": 2, "cells": cells, "metadata": {
        "kernelspec": {"display_name": ".venv", "language": "python", "name": "python3"},
        "language_info": {"name": "python", "version": "3.11.7", "codemirror_mode": {"name": "ipython", "version": 3},
                          "file_extension": ".py", "mimetype": "text/x-python"},
        "vscode": {"interpreter": {"hash": "0" * 64}}}})


def jupyterlab4(parts: list[str]) -> str:
    """JupyterLab 4 (nbformat 4.5): cell ids, a markdown cell with an image attachment, raw cells, outputs."""
    cells = [{"cell_type": "markdown", "id": "md", "metadata": {}, "source": ["![dot](attachment:dot.png)"],
              "attachments": {"dot.png": {"image/png": PNG_PIXEL}}},
             {"cell_type": "raw", "id": "raw", "metadata": {"raw_mimetype": "text/x-python"},
              "source": ["this is not code: raise SystemExit"]}]
    for i, part in enumerate(parts):
        cells.append({**_code(part), "id": f"code{i}", "execution_count": i + 1,
                      "outputs": [{"output_type": "stream", "name": "stdout", "text": ["ran\n"]}]})
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "cells": cells, "metadata": {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}}})


def nbformat3(parts: list[str]) -> str:
    """nbformat 3 (IPython 2): cells inside worksheets, code under `input`, heading cells."""
    cells = [{"cell_type": "heading", "level": 1, "metadata": {}, "source": ["Chapter 3"]}]
    cells += [{"cell_type": "code", "collapsed": False, "input": _lines(part), "language": "python",
               "metadata": {}, "outputs": [], "prompt_number": i + 1} for i, part in enumerate(parts)]
    return json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "", "signature": ""},
                       "worksheets": [{"cells": cells, "metadata": {}}]})


def r_kernel(parts: list[str]) -> str:
    """A notebook whose kernel is R: not gradable, whatever its cells hold."""
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "cells": [_code(part) for part in parts], "metadata": {
        "kernelspec": {"display_name": "R", "language": "R", "name": "ir"},
        "language_info": {"name": "R", "file_extension": ".r"}}})


def windows_notepad(parts: list[str]) -> str:
    """A JupyterLab 4 notebook saved again by Notepad on Windows: a byte-order mark, CRLF line endings, and
    CRLF inside the cells' lines too (as a tool that kept Windows newlines in the sources writes them)."""
    notebook = json.loads(jupyterlab4([part.replace("\n", "\r\n") for part in parts]))
    return "\ufeff" + json.dumps(notebook, indent=1).replace("\n", "\r\n")


TOOLS = {"colab": colab, "vscode": vscode, "jupyterlab4": jupyterlab4, "nbformat3": nbformat3,
         "windows_notepad": windows_notepad}
