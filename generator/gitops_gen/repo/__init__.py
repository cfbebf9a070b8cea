"""Repository plumbing: where files live and how they are read, written and committed.

Owns the layout of a GitOps repository (`layout`), its settings file (`config`), round-trip,
read-only and fast YAML (`yamlio`), the one subprocess runner (`proc`), the one git wrapper
(`gitrepo`), plans of file changes and their atomic, locked, committed application (`changes`,
`transaction`), and the GitHub API (`forge`). Imports nothing from gitops_gen but `errors` and
itself: every other subsystem builds on it.
"""
