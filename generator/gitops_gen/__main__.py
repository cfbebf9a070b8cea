"""python -m gitops_gen: the same as the gitops-gen command."""

from __future__ import annotations

from .launcher import main

main()
