#!/usr/bin/env drgn
"""compat-run.py - run a drgn script written for an older drgn, unchanged.

USAGE: drgn --quiet compat-run.py SCRIPT [ARGS...]
drgn 0.0.22 (Debian 12) has enum_type_to_class in drgn.helpers.common only;
scripts of 2021 (the article's list-nf-hooks) import it from drgn.helpers.
This puts the name back where they look, then runs SCRIPT with the same prog.
"""
import runpy
import sys

import drgn.helpers
import drgn.helpers.common

if not hasattr(drgn.helpers, "enum_type_to_class"):
    drgn.helpers.enum_type_to_class = drgn.helpers.common.enum_type_to_class
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, init_globals={"prog": prog}, run_name="__main__")  # noqa: F821 (drgn's global)
