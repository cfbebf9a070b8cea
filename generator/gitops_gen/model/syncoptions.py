"""The sync options of an Application, and of single objects, that bear on Argo CD's order or
its waiting: PruneLast, ApplyOutOfSyncOnly, Prune, automated.prune, ServerSideApply,
CreateNamespace. syncplan applies them to a plan; option_notes() says what each one changes.

Line numbers below are of argoproj/argo-cd at tag v3.5.1, whose gitops-engine is in-tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..repo.yamlio import lookup

SYNC_OPTIONS = "argocd.argoproj.io/sync-options"


def annotations_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    ann = lookup(obj, "metadata", "annotations")
    return ann if isinstance(ann, Mapping) else {}


def csv(value: Any) -> list[str]:
    return [v.strip() for v in str(value or "").split(",") if v.strip()]


@dataclass(frozen=True)
class SyncOptions:
    """What an Application's syncPolicy sets that bears on the order or the waiting.

    options: spec.syncPolicy.syncOptions as written. An automated sync passes exactly these to
    the sync (controller/appcontroller.go L2373-2381), and the controller tests them by exact
    string: SyncOptions.HasOption is slices.Contains (pkg/apis/application/v1alpha1/types.go
    L1496-1498), GetOptionValue takes what follows "Key=" (L1502-1510).
    """

    options: tuple[str, ...] = ()
    automated: bool = False
    automated_prune: bool = False

    def has(self, option: str) -> bool:
        return option in self.options

    def value(self, key: str) -> str | None:
        return next((o[len(key) + 1:] for o in self.options if o.startswith(key + "=")), None)

    @property
    def prune_last(self) -> bool:
        # controller/sync.go L322: WithPruneLast(HasOption("PruneLast=true"))
        return self.has("PruneLast=true")

    @property
    def apply_out_of_sync_only(self) -> bool:
        # controller/sync.go L323: WithResourceModificationChecker(HasOption(...=true), ...)
        return self.has("ApplyOutOfSyncOnly=true")

    @property
    def default_prune(self) -> str | None:
        # controller/sync.go L333: WithDefaultPruneOption(GetOptionValue("Prune"))
        return self.value("Prune")


def application_options(app: Any) -> SyncOptions:
    """The SyncOptions of an Application (loaded YAML); empty when it has no syncPolicy."""
    policy = lookup(app, "spec", "syncPolicy")
    policy = policy if isinstance(policy, Mapping) else {}
    raw = policy.get("syncOptions")
    options = tuple(str(o) for o in raw) if isinstance(raw, list) else ()
    automated = policy.get("automated")
    # pkg/apis/application/v1alpha1/types.go L1531-1536: automated is on when present and
    # not `enabled: false`; L1620-1625: GetPrune is false unless prune is set true.
    on = isinstance(automated, Mapping) and automated.get("enabled") is not False
    prune = isinstance(automated, Mapping) and automated.get("prune") is True
    return SyncOptions(options, on, on and prune)


def has_annotation_option(obj: Mapping[str, Any], option: str) -> bool:
    """The object's sync-options annotation lists option: comma-separated, each value trimmed
    (gitops-engine/pkg/sync/resource/annotations.go L16-43, GetAnnotationCSVs and
    HasAnnotationOption)."""
    return option in csv(annotations_of(obj).get(SYNC_OPTIONS))


@dataclass(frozen=True)
class PruneLast:
    """Pruning in a wave of its own after the last Sync wave, which that wave then waits for.

    gitops-engine/pkg/sync/sync_context.go L1127-1144: every prune task of a sync with
    PruneLast=true (or whose live object carries the annotation) gets wave = the greatest Sync
    wave (never below 0) + 1. Only the true last wave is not health-gated (L703-712, the sync
    succeeds once the last wave is applied; before that, L573-597 waits for every running task
    of a multi-wave sync to turn Healthy, sync_tasks.go L274-276), so on a sync that prunes,
    the former final wave is health-gated.
    """

    wave: int  # the prune wave
    gated: int  # the wave before it, health-gated on a sync that prunes
    app_level: bool  # the Application's syncOptions hold PruneLast=true
    annotated: tuple[tuple[str, str], ...] = ()  # (kind, name) of objects with the annotation
    skipped: str | None = None  # why prune tasks delete nothing (they still take the wave)


def option_notes(options: SyncOptions, namespace: str | None,
                  prune_last: PruneLast | None) -> list[str]:
    """What each option changes in the order or the waiting, one sentence each."""
    out: list[str] = []
    if prune_last is not None:
        who = ("PruneLast=true (the Application's syncOptions)" if prune_last.app_level else
               "PruneLast=true on " + ", ".join(f"{k}/{n}" for k, n in prune_last.annotated))
        out.append(f"{who}: a sync that prunes deletes objects gone from the chart in wave "
                   f"{prune_last.wave}, after every Sync wave, so wave {prune_last.gated} is "
                   "health-gated on such a sync (it is no longer the last)"
                   + (f"; {prune_last.skipped}, yet they keep that wave" if prune_last.skipped
                      else ""))
    elif options.default_prune == "false":
        out.append("Prune=false: objects gone from the chart stay in the cluster (their prune "
                   "tasks are skipped as \"ignored (no prune)\")")
    elif options.automated and not options.automated_prune:
        out.append("automated.prune is not true: automated syncs leave objects gone from the "
                   "chart in the cluster, and a change that only removes objects is not synced "
                   "automatically")
    if options.default_prune == "confirm":
        # sync_context.go L1616-1625: a prune that needs confirmation keeps the sync pending.
        out.append("Prune=confirm: a sync that prunes stops at the first wave holding a prune "
                   "until someone confirms it (Argo CD UI or CLI)")
    if options.apply_out_of_sync_only:
        # sync_context.go L529-531, L646-648, L760-773: unmodified objects are filtered out.
        out.append("ApplyOutOfSyncOnly=true: only objects that differ from the cluster are "
                   "applied; a wave whose objects are all in sync is skipped and not waited for "
                   "(a first sync applies every object)")
    if options.has("ServerSideApply=true"):
        # sync_context.go L1281-1296: it picks how an object is applied, not waves or health.
        out.append("ServerSideApply=true: objects are applied server-side; the order and what "
                   "each wave waits for are unchanged")
    if options.has("CreateNamespace=true") and namespace:
        # sync_context.go L1161-1201: a PreSync task creates the namespace, and
        # gitops-engine/pkg/health/health.go L104-152 has no health check for a Namespace.
        out.append(f"CreateNamespace=true: Argo CD creates namespace {namespace} before the "
                   "first wave (nothing to wait for)")
    return out
