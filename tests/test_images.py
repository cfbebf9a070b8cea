"""Image references: parsing TAG | sha256:... | TAG@sha256:..., what an environment runs, and the
round-trip edit of an overlay."""

from __future__ import annotations

import pytest
import yaml

from gitops_gen.errors import InputError
from gitops_gen.model import images
from gitops_gen.model.images import ImageRef

DIGEST = "sha256:" + "0123456789abcdef" * 4
OTHER = "sha256:" + "f" * 64
CHART = {"backend": {"image": {"repository": "todo-chatbot-backend", "tag": "1.0.0",
                               "digest": ""}},
         "frontend": {"image": {"repository": "todo-chatbot-frontend", "tag": "1.0.0",
                                "digest": ""}}}


@pytest.mark.parametrize(("text", "tag", "digest"), [
    ("1.4.0", "1.4.0", ""),
    ("v2_rc-1", "v2_rc-1", ""),
    (DIGEST, "", DIGEST),
    (f"1.4.0@{DIGEST}", "1.4.0", DIGEST),
    (f"latest@{DIGEST}", "latest", DIGEST),
])
def test_parse(text: str, tag: str, digest: str) -> None:
    ref = images.parse(text)
    assert ref == ImageRef(tag, digest)
    assert str(ref) == text


@pytest.mark.parametrize(("text", "words"), [
    ("", "is empty"),
    ("1.0 beta", "not a valid image tag"),
    ("-1.0", "not a valid image tag"),
    ("sha256:abc", "not an image digest"),
    ("sha256:" + "AB" * 32, "not an image digest"),
    (f"1.0@{DIGEST[:-1]}", "not an image digest"),
    (f"@{DIGEST}", "has no tag before '@'"),
    ("1.0@", "has no digest after '@'"),
    ("ghcr.io/org/api:1.0", "names a repository"),
    (f"api:1.0@{DIGEST}", "names a repository"),
])
def test_parse_refuses_in_one_line(text: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        images.parse(text)
    message = caught.value.render()
    assert words in message and "REF" in message and "\n" not in message


def test_short_form_cuts_the_digest() -> None:
    assert ImageRef("1.4.0", DIGEST).short == "1.4.0@sha256:0123456789ab"
    assert ImageRef("", DIGEST).short == "sha256:0123456789ab"
    assert ImageRef("1.4.0").short == "1.4.0"


def test_what_runs_is_the_overlay_over_the_chart_key_by_key() -> None:
    overlay = {"backend": {"image": {"digest": DIGEST}}, "frontend": {"replicaCount": 2}}
    assert images.refs_of(CHART, overlay) == {"backend": ImageRef("1.0.0", DIGEST),
                                              "frontend": ImageRef("1.0.0")}
    assert images.ref_of(CHART, {"backend": {"image": {"tag": "", "digest": DIGEST}}},
                         "backend") == ImageRef("", DIGEST)
    assert images.ref_of({}, {}, "backend") is None
    assert images.ref_of(CHART, {"backend": {"image": {"tag": None}}}, "backend") is None


def test_a_bad_value_in_the_current_files_names_the_file() -> None:
    with pytest.raises(InputError, match=r"overlays/dev/values.yaml: backend.image.tag 1.4"):
        images.ref_of(CHART, {"backend": {"image": {"tag": 1.4}}}, "backend",
                      where="overlays/dev/values.yaml")
    lenient = images.ref_of(CHART, {"backend": {"image": {"tag": 1.4}}}, "backend",
                            strict=False)
    assert lenient == ImageRef("1.4")


OVERLAY = """\
# Helm values of the staging environment.
backend:
  replicaCount: 3  # peak load
  image:
    tag: "1.3.2"  # last good
frontend:
  image:
    tag: 1.3.2
networkPolicy:
  enabled: true
"""


def test_edit_keeps_comments_order_and_quoting() -> None:
    text = images.with_refs(OVERLAY, "overlays/staging/values.yaml",
                            {"backend": ImageRef("1.4.0", DIGEST)}, CHART)
    assert text == OVERLAY.replace('tag: "1.3.2"  # last good',
                                   f'tag: "1.4.0"  # last good\n    digest: {DIGEST}')
    back = images.with_refs(text, "overlays/staging/values.yaml",
                            {"backend": ImageRef("1.3.2")}, CHART)
    assert back == OVERLAY  # no digest: the key goes away again


def test_edit_of_a_digest_alone_empties_the_tag() -> None:
    text = images.with_refs(OVERLAY, "v", {"frontend": ImageRef("", OTHER)}, CHART)
    data = yaml.safe_load(text)
    assert data["frontend"]["image"] == {"tag": "", "digest": OTHER}
    assert images.ref_of(CHART, data, "frontend") == ImageRef("", OTHER)


def test_edit_against_a_chart_that_names_a_digest_writes_an_empty_one() -> None:
    chart = {"backend": {"image": {"tag": "1.0.0", "digest": DIGEST}}}
    text = images.with_refs("{}\n", "v", {"backend": ImageRef("2.0")}, chart)
    assert yaml.safe_load(text) == {"backend": {"image": {"tag": "2.0", "digest": ""}}}
    assert text.startswith("backend:\n")  # block style, though the file was "{}"
    assert images.ref_of(chart, yaml.safe_load(text), "backend") == ImageRef("2.0")
