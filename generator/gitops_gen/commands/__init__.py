"""One module per command (group). Each exports click commands; COMMANDS lists them all."""

from __future__ import annotations

import click

from .bootstrap import bootstrap
from .checks import diff, plan, render, validate
from .doctor import doctor
from .env import env
from .init import init
from .promote import promote
from .secrets import secrets
from .serve import serve
from .service import service

COMMANDS: list[click.Command] = [
    init, env, secrets, validate, render, plan, diff, promote, serve, service, bootstrap,
    doctor,
]
