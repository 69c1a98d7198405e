"""docs/python.md's worked example runs as written: its python code blocks, in order, from the top of
the source tree, in one namespace."""

import os
import re


def test_the_worked_example_runs(source, tmp_path, capsys):
    text = (source / "docs/python.md").read_text()
    section = text.split("## A worked example", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) >= 4
    cwd = os.getcwd()
    os.chdir(source)
    try:
        namespace = {}
        for block in blocks:
            exec(compile(block, "docs/python.md", "exec"), namespace)
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr().out
    assert "(110272,) 22050 (64, 216)" in printed  # 220544 samples at 44.1 kHz
    assert "Rain" in printed.splitlines()[1]  # the most probable class comes first
    assert "512 (64, 216)" in printed
