#!/usr/bin/env python3
"""The README's model is the real program: the C block under "## A model"
must appear verbatim in examples/quickstart.c (which ctest builds and runs).
Usage: readme_check.py SOURCE_DIR"""
import re
import sys

root = sys.argv[1]
readme = open(f"{root}/README.md", encoding="utf-8").read()
source = open(f"{root}/examples/quickstart.c", encoding="utf-8").read()
section = re.search(r"^## A model.*?(?=^## )", readme, re.S | re.M)
block = section and re.search(r"```c\n(.*?)```", section.group(0), re.S)
if not block:
    sys.exit("readme_check: no ```c block under '## A model' in README.md")
if block.group(1) not in source:
    sys.exit("readme_check: the README's model differs from examples/quickstart.c")
print(f"readme_check: {block.group(1).count(chr(10))} lines of README.md match examples/quickstart.c")
