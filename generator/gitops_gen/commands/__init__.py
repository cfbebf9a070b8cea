"""One module per command (group). Each exports click commands; COMMANDS lists them all."""

from __future__ import annotations

import click

from .bootstrap import bootstrap
from .checks import diff, plan, render, validate
from .doctor import doctor
from .env import env
from .history import history
from .image import image
from .init import init
from .promote import promote
from .rollback import rollback
from .secrets import secrets
from .serve import serve
from .service import service
from .status import status

COMMANDS: list[click.Command] = [
    init, env, secrets, validate, render, plan, diff, promote, serve, service, bootstrap, doctor,
    image,
    history,
    status,
    rollback,
]
