"""Secrets: the sops binary, age keys and `.sops.yaml`.

`sops` is the only caller of sops (values travel through pipes, never argv or disk), `agekeys`
finds, reads and creates age identities, `sopsconfig` reads and writes `.sops.yaml`'s creation
rules, `demo_key` names the public demo recipient. May import `repo` and `errors`; nothing above.
"""
