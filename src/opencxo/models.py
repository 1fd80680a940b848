"""Every capability's models, imported so Alembic and the mappers see them all."""

from opencxo.clinical.models import (
    EnrollmentRecord,
    RecoveryPlan,
    SiteOffer,
    Study,
    StudyCountry,
    StudySite,
)
from opencxo.contracts.models import (
    ChangeOrder,
    Deliverable,
    Invoice,
    Milestone,
    Msa,
    Payment,
    WorkOrder,
)
from opencxo.core.audit import AuditChainHead, AuditEvent
from opencxo.core.auth.models import ApiToken, Membership, User
from opencxo.core.db import Base
from opencxo.core.files import StoredFile
from opencxo.core.idempotency import IdempotencyRecord
from opencxo.core.notifications import Notification
from opencxo.core.signatures import Signature
from opencxo.economics.models import Portfolio, Valuation, ValuationScenario
from opencxo.parties.models import (
    Capability,
    Certification,
    Inspection,
    Organization,
    Qualification,
    Site,
)
from opencxo.sourcing.models import (
    Award,
    Bid,
    BidLine,
    BidLot,
    Invitation,
    Lot,
    Program,
    Question,
    Rfp,
)

__all__ = [
    "ApiToken",
    "AuditChainHead",
    "AuditEvent",
    "Award",
    "Base",
    "Bid",
    "BidLine",
    "BidLot",
    "Capability",
    "Certification",
    "ChangeOrder",
    "Deliverable",
    "EnrollmentRecord",
    "IdempotencyRecord",
    "Inspection",
    "Invitation",
    "Invoice",
    "Lot",
    "Membership",
    "Milestone",
    "Msa",
    "Notification",
    "Organization",
    "Payment",
    "Portfolio",
    "Program",
    "Qualification",
    "Question",
    "RecoveryPlan",
    "Rfp",
    "Signature",
    "Site",
    "SiteOffer",
    "StoredFile",
    "Study",
    "StudyCountry",
    "StudySite",
    "User",
    "Valuation",
    "ValuationScenario",
    "WorkOrder",
]
