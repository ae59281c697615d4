"""Every run says which code produced it: package versions and the git commit."""

from __future__ import annotations

import subprocess

from hpsearch.tracking.provenance import GIT_COMMIT_TAG, GIT_DIRTY_TAG, provenance_tags


def _git(folder, *arguments):
    command = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    return subprocess.run([*command, *arguments], check=True, capture_output=True, text=True)


def test_tags_name_the_commit_and_whether_the_tree_was_clean(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "study.yaml").write_text("name: x\n")
    _git(tmp_path, "add", "study.yaml")
    _git(tmp_path, "commit", "-q", "-m", "a study")
    head = _git(tmp_path, "rev-parse", "HEAD").stdout.strip()
    (tmp_path / "studies").mkdir()

    tags = provenance_tags(tmp_path / "studies")  # any folder inside the work tree
    assert tags[GIT_COMMIT_TAG] == head and tags[GIT_DIRTY_TAG] == "false"
    assert tags["hpsearch.version.hpsearch"] and tags["hpsearch.version.keras"]
    assert tags["hpsearch.version.python"].count(".") == 2

    (tmp_path / "study.yaml").write_text("name: y\n")
    assert provenance_tags(tmp_path)[GIT_DIRTY_TAG] == "true"


def test_outside_a_work_tree_there_is_no_commit_tag(tmp_path):
    tags = provenance_tags(tmp_path)
    assert GIT_COMMIT_TAG not in tags and GIT_DIRTY_TAG not in tags
    assert "hpsearch.version.mlflow" in tags
