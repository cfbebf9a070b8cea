"""The GitOps model: what the repository's files are and how they are built.

Environments and their overlays, the Argo CD Applications and AppProjects (`apps`), the Helm
chart and its rendering (`chart`), Argo CD's sync order (`syncplan`) under an Application's sync
options (`syncoptions`), rendered-manifest diffs (`manifestdiff`), an environment's secrets over
their life (`envsecrets`), the cluster bootstrap, the scaffold of a new repository and the local
set-up check (`doctor`). May import `secrets`, `repo` and `errors`; never `checks`,
`promotion`, `service` or the CLI.
"""
