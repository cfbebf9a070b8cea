"""The validation service: the HTTP app over the same core functions the CLI calls.

May import `promotion`, `checks`, `model`, `secrets`, `repo` and `errors`; never the CLI.
"""
