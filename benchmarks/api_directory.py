"""Provider-directory latency through the real API on a migrated SQLite database.

Seeds N providers (each with two sites, three capabilities, two certificates and an inspection)
and times ``GET /api/v1/providers`` with and without filters. Prints JSON.

    .venv/bin/python benchmarks/api_directory.py [--providers 500] [--requests 50]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=500)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="opencxo-bench-"))
    url = f"sqlite:///{workdir / 'bench.db'}"
    os.environ["OPENCXO_DATABASE_URL"] = url
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "head")

    from opencxo.app import create_app
    from opencxo.core.auth import service as auth
    from opencxo.core.db import make_engine, unit_of_work
    from opencxo.core.settings import Settings
    from opencxo.parties import service as parties
    from opencxo.parties.catalog import service_catalog
    from opencxo.parties.schemas import (
        CapabilityCreate,
        CertificationCreate,
        InspectionCreate,
        OrganizationCreate,
        SiteCreate,
    )

    codes = [e.code for e in service_catalog().entries]
    countries = ["CN", "IN", "US", "DE", "KR", "FR", "GB", "CH", "JP", "BR"]
    engine = make_engine(url)
    seed_started = time.perf_counter()
    with unit_of_work(engine) as session:
        user = auth.create_user(
            session,
            actor=None,
            email="bench@x.example",
            full_name="Bench",
            password="bench-password",
            is_operator=True,
        )
        op = auth.principal_for(session, user)
        _, token = auth.create_token(session, op, name="bench")
        for n in range(args.providers):
            country = countries[n % len(countries)]
            org = parties.create_organization(
                session,
                op,
                OrganizationCreate(
                    name=f"Provider {n:05d}",
                    kind="provider",
                    service_lines=["CRO", "CDMO"],
                    country=country,
                    city="City",
                    description=f"provider number {n}",
                ),
            )
            sites = [
                parties.add_site(
                    session,
                    op,
                    org.id,
                    SiteCreate(name=f"Site {k}", site_type="lab", country=country, city="City"),
                ).id
                for k in range(2)
            ]
            for k in range(3):
                parties.add_capability(
                    session,
                    op,
                    org.id,
                    CapabilityCreate(service_code=codes[(n + 7 * k) % len(codes)], site_ids=sites),
                )
            for standard in ("GMP", "GLP"):
                parties.add_certification(
                    session,
                    op,
                    org.id,
                    CertificationCreate(
                        standard=standard,
                        issuer="Authority",
                        valid_until=date.today() + timedelta(days=30 + n % 700),
                    ),
                )
            parties.add_inspection(
                session,
                op,
                org.id,
                InspectionCreate(
                    authority="FDA",
                    inspected_on=date(2025, 1, 1) + timedelta(days=n % 300),
                    outcome=("NAI", "VAI", "OAI")[n % 3],
                ),
            )
    seed_s = time.perf_counter() - seed_started

    settings = Settings(database_url=url, environment="test", log_level="WARNING")
    client = TestClient(create_app(settings))
    headers = {"Authorization": f"Bearer {token}"}
    queries = {
        "all_first_page": "/api/v1/providers",
        "capability_and_certificate": "/api/v1/providers?service_code=CMC-GMPAPI&certification=GMP",
        "free_text_and_region": "/api/v1/providers?q=chemistry&region=Europe",
        "page_5_by_name": "/api/v1/providers?page=5&sort=name",
    }
    results: dict[str, dict[str, float | int]] = {}
    for label, path in queries.items():
        client.get(path, headers=headers)  # warm-up
        timings = []
        for _ in range(args.requests):
            started = time.perf_counter()
            response = client.get(path, headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                sys.exit(f"{path} answered {response.status_code}: {response.text}")
        timings.sort()
        results[label] = {
            "matches": response.json()["total"],
            "p50_ms": round(statistics.median(timings), 2),
            "p95_ms": round(timings[int(0.95 * (len(timings) - 1))], 2),
        }
    print(
        json.dumps(
            {
                "benchmark": "api_directory",
                "database": "sqlite",
                "providers": args.providers,
                "requests_per_query": args.requests,
                "seed_s": round(seed_s, 1),
                "queries": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
