"""``opencxo mfg batches | batch | release | coa`` run as a real process against the test
database, acting as the plant's people with ``--as``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from opencxo.manufacturing.models import Batch
from tests.factories import PASSWORD
from tests.manufacturing.batch_helpers import PASSING, add_results, make_batch
from tests.manufacturing.conftest import PlantWorld


def run(
    database_url: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENCXO_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "opencxo.cli", "mfg", *args],
        capture_output=True, text=True, env=env, input=stdin, check=False,
    )  # fmt: skip


def test_list_release_and_certificate(plant: PlantWorld, database_url: str, tmp_path: Path) -> None:
    batch = make_batch(plant, "API-1", "B-API-1", status="completed", actual="41.2")
    add_results(plant, batch, PASSING)
    make_batch(plant, "API-B", "B-APIB-1", order="PO-B-1")
    plant.session.commit()
    qa, sponsor = plant.emails["qa"], plant.emails["sponsor"]

    listed = run(database_url, "batches", "--as", qa, "--status", "completed", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [b["batch_number"] for b in json.loads(listed.stdout)["items"]] == ["B-API-1"]

    refused = run(database_url, "release", "B-API-1", "--as", plant.emails["planner"],
                  "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "error: your role does not grant batches:release at this plant's provider"
    )
    wrong = run(database_url, "release", "B-API-1", "--as", qa, "--password-stdin", stdin="no\n")
    assert wrong.returncode == 1
    assert wrong.stderr.startswith("error: the password is wrong")

    released = run(database_url, "release", "B-API-1", "--as", qa, "--password-stdin",
                   stdin=PASSWORD + "\n")  # fmt: skip
    assert released.returncode == 0, released.stderr
    assert released.stdout.startswith("B-API-1 released by Test User on ")
    assert released.stdout.strip().endswith("(meaning: released)")
    plant.session.expire_all()
    assert plant.session.get(Batch, batch.id).status == "released"  # type: ignore[union-attr]

    record = run(database_url, "batch", "B-API-1", "--as", sponsor, "--json")
    assert record.returncode == 0, record.stderr
    doc = json.loads(record.stdout)
    assert doc["status"] == "released" and doc["disposition"]["signature"]["meaning"] == "released"
    hidden = run(database_url, "batch", "B-APIB-1", "--as", sponsor)
    assert hidden.returncode == 1
    assert hidden.stderr.strip() == "error: no batch B-APIB-1 that you can read"

    pdf = tmp_path / "coa.pdf"
    certificate = run(database_url, "coa", "B-API-1", "--as", sponsor, "--pdf", str(pdf), "--json")
    assert certificate.returncode == 0, certificate.stderr
    coa = json.loads(certificate.stdout)
    assert (coa["batch_number"], coa["quantity"], coa["sponsor"]) == (
        "B-API-1",
        "41.200000",
        "Sponsor A Bio",
    )
    assert [t["result"] for t in coa["tests"]] == ["99.6 %", "0.2 %", "Conforms"]
    assert pdf.read_bytes().startswith(b"%PDF")
    for where, why in ((tmp_path / "no" / "coa.pdf", "No such file or directory"),
                       (tmp_path, "Is a directory")):  # fmt: skip
        unwritable = run(database_url, "coa", "B-API-1", "--as", sponsor, "--pdf", str(where))
        assert unwritable.returncode == 1
        assert unwritable.stderr.strip() == f"error: --pdf {where}: {why}"
