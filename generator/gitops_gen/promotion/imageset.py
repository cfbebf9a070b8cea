"""image set: one component's image reference in one environment, the way an application's CI
hands over a new image.

The reference is checked first the way validate would judge it in that environment (a moving
tag outside dev, a tag where digests are required, a reference the gates do not let in), so a
refusal writes nothing. Then the overlay is edited round-trip (comments and order kept),
validated and committed on the checked-out branch; or, to publish, committed on a branch
image/ENV-COMPONENT from the target revision (see proposal) and pushed, with a pull request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..checks import policy
from ..errors import InputError, ValidationFailed
from ..model import images, overlays
from ..model.images import COMPONENTS, ImageRef
from ..repo import config, gitrepo, layout, transaction, yamlio
from ..repo.changes import Action, FileChange
from . import promote
from .proposal import BranchResult, Check, Proposal, env_label, target_commit

LABEL = "image"


@dataclass(frozen=True)
class ImageSetPlan:
    env: str
    component: str
    ref: ImageRef
    old: ImageRef | None
    path: str
    old_text: str
    new_text: str | None  # None: the environment already runs ref
    base: str | None  # the target revision's commit (publishing), None: the work tree
    target_revision: str

    @property
    def title(self) -> str:
        return f"image: {self.env} {self.component} {self.old or '(none)'} -> {self.ref}"

    @property
    def message(self) -> str:
        return (f"{self.title}\n\nSet by gitops-gen image set {self.env} {self.component} "
                f"{self.ref}.\n")

    def proposal(self) -> Proposal:
        if self.new_text is None or self.base is None:
            raise InputError(f"{self.env} already runs {self.component} {self.ref}",
                             "nothing to do")
        return Proposal(self.env, self.path, self.new_text, self.base, self.target_revision,
                        f"image/{self.env}-{self.component}", self.message, self.title,
                        (LABEL, env_label(self.env)))


def refuse_moving_tag(env: str, ref: ImageRef) -> None:
    """Outside dev, validate refuses a tag that moves (policy-image-tag) unless a digest pins it."""
    if overlays.is_dev(env) or ref.digest or not policy.unpinned(ref.tag):
        return
    raise InputError(
        f"REF {ref} is a moving tag and {env} runs pinned images only (validate's "
        "policy-image-tag)",
        f"give a release tag such as 1.4.0, or pin this one by digest: {ref.tag}@sha256:...",
    )


def current(root: Path, base: str | None, path: str, revision: str) -> tuple[Any, str, Any]:
    """The overlay's data and text and the chart's values, at base or in the work tree."""
    if base is not None:
        data, text = promote.committed(root, base, path, revision)
        chart_values, _ = promote.committed(root, base, images.CHART_VALUES, revision)
        return data, text, chart_values
    target = root / path
    if not target.is_file():
        raise InputError(f"{path} does not exist", "add the environment first (gitops-gen env "
                         "add)")
    text = target.read_text()
    chart_values = yamlio.load((root / images.CHART_VALUES).read_text(), images.CHART_VALUES)
    return yamlio.load(text, path) or {}, text, chart_values


def plan(root: Path, env: str, component: str, ref_text: str, *, publish: bool,
         now: datetime | None = None) -> ImageSetPlan:
    """What setting ref changes, refused (exit 2) where validate or the gates would refuse."""
    settings = config.load(root)
    promote.check_envs(settings, (env, "ENV"))
    if component not in COMPONENTS:
        raise InputError(f"COMPONENT {component!r} is unknown", "give backend or frontend")
    ref = images.parse(ref_text)
    refuse_moving_tag(env, ref)
    path = layout.values_path(env)
    revision = settings.target_revision
    base = target_commit(root, revision) if publish else None
    if base is None:
        transaction.refuse_dirty(root, [path])
    data, text, chart_values = current(root, base, path, revision)
    refs = images.refs_of(chart_values, data, where=path)
    old = refs[component]
    if old == ref:
        return ImageSetPlan(env, component, ref, old, path, text, None, base, revision)
    tip = base or gitrepo.revision_commit(root, revision) or gitrepo.head_commit(root)
    promote.refuse_gates(root, settings, env, {component: ref}, tip, now)
    new_text = images.with_refs(text, path, {component: ref}, chart_values)
    return ImageSetPlan(env, component, ref, old, path, text, new_text, base, revision)


def commit_text(root: Path, env: str, path: str, old_text: str, new_text: str, message: str,
                check: Check) -> str | None:
    """Write path, validate env and commit on the checked-out branch; on any failure the file
    goes back as it was. The new commit's sha."""

    def validated() -> None:
        problems = list(check(root, env))
        if problems:
            raise ValidationFailed(problems)

    change = FileChange(path, Action.UPDATE, old_text, new_text)
    return transaction.apply(root, [change], message, check=validated)


def commit(root: Path, planned: ImageSetPlan, check: Check) -> str | None:
    assert planned.new_text is not None
    return commit_text(root, planned.env, planned.path, planned.old_text, planned.new_text,
                       planned.message, check)


def pr_body(planned: ImageSetPlan, result: BranchResult) -> str:
    lines = [f"Sets the **{planned.component}** image of **{planned.env}** to `{planned.ref}` "
             f"(it runs `{planned.old or '-'}` in `{planned.target_revision}`).", ""]
    if result.changed_objects:
        lines += [f"Rendered objects of {planned.env} that change:", ""]
        lines += [f"- {obj}" for obj in result.changed_objects] + [""]
    lines += [f"Prepared by `gitops-gen image set {planned.env} {planned.component} "
              f"{planned.ref}`; running it again updates this pull request."]
    return "\n".join(lines) + "\n"

