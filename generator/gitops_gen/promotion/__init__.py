"""Promotion: moving image references from one environment to the next as a reviewed change.

Builds the promotion branch and pull request from the model and checks it with the validation
engine. May import `checks`, `model`, `secrets`, `repo` and `errors`.
"""
