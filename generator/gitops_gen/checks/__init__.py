"""The validation engine: one `validate_repo` for the CLI, CI and the service.

Loads a repository's files (`repofiles`), renders environments the way Argo CD would
(`rendering`) and runs every rule family: file checks, manifest checks against the Kubernetes and
Argo CD schemas, Argo CD's own rules, the sync checks, policy and the promotion gates (`gates`).
Each family declares its rule ids beside its checks (`rules.Rule`, gathered in `validate.RULES`).
Findings and their report formats live here too. May import `model`, `secrets`, `repo` and `errors`.
"""
