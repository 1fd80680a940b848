"""Fixtures of the clinical tests: a sponsor with a program and a CRO work order, another sponsor,
another CRO, and a helper that makes a study with sites.

People: the sponsor's manager (``manager``) and viewer (``viewer``), the CRO's admin (``cro``), the
other sponsor's admin (``stranger``) and the other CRO's admin (``other_cro``). Every person has the
password ``PASSWORD``; argon2 runs at its lowest cost.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from opencxo.clinical import service
from opencxo.clinical.schemas import SiteCreate, StudyCreate, StudyRead
from opencxo.contracts import service as contracts
from opencxo.contracts.schemas import WorkOrderFromAward
from opencxo.core.auth.principal import Principal
from opencxo.core.types import utcnow
from opencxo.sourcing import service as sourcing
from opencxo.sourcing.models import Rfp
from opencxo.sourcing.schemas import (
    AwardCreate,
    BidInput,
    BidLineInput,
    BidLotInput,
    InvitationCreate,
    LotInput,
    ProgramCreate,
    RfpCreate,
    Transition,
)
from tests.factories import PASSWORD, make_organization, make_provider, make_user, principal_of

TODAY = date.today()


def days(n: int) -> date:
    return TODAY + timedelta(days=n)


@dataclass
class Clinic:
    session: Session
    sponsor_id: uuid.UUID
    cro_id: uuid.UUID
    other_cro_id: uuid.UUID
    program_id: uuid.UUID
    work_order_id: uuid.UUID
    people: dict[str, Principal]
    emails: dict[str, str]

    def __getitem__(self, name: str) -> Principal:
        return self.people[name]

    def study(self, *, with_work_order: bool = True, code: str = "NWT-204-201") -> StudyRead:
        return service.create_study(
            self.session,
            self["manager"],
            StudyCreate(
                program_id=self.program_id,
                work_order_id=self.work_order_id if with_work_order else None,
                code=code,
                title="Phase IIb in ulcerative colitis",
                phase="phase_2",  # type: ignore[arg-type]
                indication="Ulcerative colitis",
                target_enrollment=240,
                planned_first_patient_in=days(-300),
                planned_last_patient_in=days(150),
            ),
        )

    def site(
        self,
        study_id: uuid.UUID,
        code: str,
        *,
        country: str = "US",
        activated: date | None = None,
        actor: str = "cro",
    ) -> uuid.UUID:
        created = service.create_site(
            self.session,
            self[actor],
            study_id,
            SiteCreate(
                code=code,
                name=f"Site {code}",
                institution="University Hospital",
                country=country,
                city="Somewhere",
                investigator="Dr. Test",
                planned_activation_date=days(-200),
                status="active" if activated else "planned",  # type: ignore[arg-type]
                actual_activation_date=activated,
            ),
        )
        return created.id


def _work_order(
    session: Session, sponsor: Principal, cro: Principal, cro_id: uuid.UUID, program_id: uuid.UUID
) -> uuid.UUID:
    """Program → RFP → CRO invited, bids → closed → awarded → the work order (a draft)."""
    rfp = sourcing.create_rfp(
        session,
        sponsor,
        RfpCreate(
            program_id=program_id,
            title="Phase II clinical operations",
            bid_deadline=utcnow() + timedelta(days=7),
            lots=[
                LotInput(
                    title="Monitoring",
                    service_code="CLIN-MONITOR",
                    scope={"phase": "II", "patients": 240, "countries": "US, DE, PL"},
                )
            ],
        ),
    )
    lot = rfp.lots[0].id
    sourcing.invite(
        session, sponsor, rfp.id, InvitationCreate(provider_id=cro_id, acknowledge_warning=True)
    )
    sourcing.publish_rfp(session, sponsor, rfp.id, Transition(version=1))
    line = BidLineInput(
        description="Sites activated", amount="100000.00", currency="USD", due_offset_days=90
    )
    offer = BidLotInput(lot_id=lot, start_date=TODAY, duration_days=90, lines=[line])
    bid = sourcing.save_bid(session, cro, rfp.id, BidInput(lots=[offer]))
    bid = sourcing.submit_bid(session, cro, rfp.id, Transition(version=bid.version))
    session.execute(
        update(Rfp).where(Rfp.id == rfp.id).values(bid_deadline=utcnow() - timedelta(minutes=1))
    )
    assert sourcing.close_due_rfps(session) == 1
    version = sourcing.get_rfp(session, sponsor, rfp.id).version
    award = sourcing.award_lot(
        session,
        sponsor,
        rfp.id,
        lot,
        AwardCreate(bid_id=bid.id, version=version, password=PASSWORD),
    )
    return contracts.create_from_award(session, sponsor, WorkOrderFromAward(award_id=award.id)).id


@pytest.fixture
def clinic(session: Session) -> Clinic:
    sponsor = make_organization(session, name="Northwind Therapeutics", country="US")
    stranger_org = make_organization(session, name="Contoso Pharma", country="DE")
    cro = make_provider(
        session,
        name="Corvane Clinical Research",
        country="US",
        service_codes=("CLIN-MONITOR",),
        standards=("GCP",),
        service_lines=["CRO"],
    )
    other_cro = make_provider(
        session,
        name="Vistula Clinical Sites",
        country="PL",
        service_codes=("CLIN-MONITOR",),
        standards=("GCP",),
        service_lines=["CRO"],
    )
    users = {
        "manager": make_user(session, organization_id=sponsor.id, role="manager"),
        "viewer": make_user(session, organization_id=sponsor.id, role="viewer"),
        "cro": make_user(session, organization_id=cro.id, role="admin"),
        "cro_viewer": make_user(session, organization_id=cro.id, role="viewer"),
        "stranger": make_user(session, organization_id=stranger_org.id, role="admin"),
        "other_cro": make_user(session, organization_id=other_cro.id, role="admin"),
    }
    people = {name: principal_of(session, user) for name, user in users.items()}
    program = sourcing.create_program(
        session,
        people["manager"],
        ProgramCreate(
            name="NWT-204",
            modality="small_molecule",
            therapeutic_area="Immunology",
            indication="Ulcerative colitis",
            phase="phase_2",
        ),
    )
    work_order_id = _work_order(session, people["manager"], people["cro"], cro.id, program.id)
    session.commit()
    return Clinic(
        session=session,
        sponsor_id=sponsor.id,
        cro_id=cro.id,
        other_cro_id=other_cro.id,
        program_id=program.id,
        work_order_id=work_order_id,
        people=people,
        emails={name: user.email for name, user in users.items()},
    )
