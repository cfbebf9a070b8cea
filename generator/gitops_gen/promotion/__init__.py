"""Promotion: moving image references from one environment to the next as a reviewed change.

`promote` (one environment's references into the next), `imageset` (a new image into one
environment), `rollback` (references back to an earlier revision), all published through
`proposal` (a branch of its own, pushed, its pull request opened or updated in place); `status`
reads what runs where. Checks the result with the validation engine and its gates. May import
`checks`, `model`, `secrets`, `repo` and `errors`.
"""
