"""The folders of src/ are layers, and includes point down only: the order
is the `layers:` line of docs/design.md, and a file may include headers of
its own folder or of a folder below it. A new folder must be placed on the
line before it can be used."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "src")


def layer_order():
    with open(os.path.join(ROOT, "docs", "design.md")) as f:
        m = re.search(r"^layers: (.*)$", f.read(), re.M)
    assert m, "docs/design.md has no 'layers:' line"
    return [name.strip() for name in m.group(1).split(",")]


def includes():
    """(including file relative to src/, its folder, the included folder)."""
    for folder, _, files in os.walk(SRC):
        for name in sorted(files):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, SRC)
            own = rel.split(os.sep)[0] if os.sep in rel else rel
            with open(path) as f:
                for target in re.findall(r'^\s*#\s*include\s+"([^"]+)"', f.read(), re.M):
                    yield rel, own, target.split("/")[0] if "/" in target else own


def test_every_folder_of_src_has_a_place_in_the_layer_order():
    order = layer_order()
    here = sorted(d for d in os.listdir(SRC) if os.path.isdir(os.path.join(SRC, d)))
    assert [d for d in here if d not in order] == []
    assert [d for d in order if d != "main.c" and d not in here] == []


def test_no_include_from_a_lower_folder_to_a_higher_one():
    rank = {name: i for i, name in enumerate(layer_order())}
    upward = [f"{rel} includes {target}/ (above {own}/)"
              for rel, own, target in includes()
              if target in rank and rank[target] > rank[own]]
    assert upward == []
