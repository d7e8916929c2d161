"""SQLAlchemy 2.x tables, grouped by domain; every table shares one metadata (``Base``).

Import models from here (``from grantflow.db.models import Project``); the modules say which
domain a table belongs to. Alembic sees every table because this package imports them all.
"""

from grantflow.db.models.adjustments import Adjustment
from grantflow.db.models.audit import AuditEvent, AuditHead, OutboxMessage
from grantflow.db.models.base import ID, NAMING, Base, UTCDateTime, table, utcnow
from grantflow.db.models.deadlines import DueItem, ReportSchedule
from grantflow.db.models.forms import Attachment, FormDraft, QuestionnaireResponse, Submission
from grantflow.db.models.notifications import (
    InboxMessage,
    NotificationDelivery,
    NotificationDigest,
    NotificationPreference,
)
from grantflow.db.models.people import Organisation, OrganisationQualification, User, UserRole
from grantflow.db.models.programmes import (
    Call,
    Programme,
    ProgrammeKeyTask,
    ProgrammeTarget,
    ProgrammeUnit,
    Project,
    ProjectPartner,
    ProjectTag,
)
from grantflow.db.models.review import (
    Complaint,
    ConflictStatement,
    CriterionScore,
    PanelMember,
    Review,
    ReviewAssignment,
    ReviewPanel,
    ReviewRubric,
)
from grantflow.db.models.tenders import Bid, Tender

__all__ = [
    "ID",
    "NAMING",
    "Adjustment",
    "Attachment",
    "AuditEvent",
    "AuditHead",
    "Base",
    "Bid",
    "Call",
    "Complaint",
    "ConflictStatement",
    "CriterionScore",
    "DueItem",
    "FormDraft",
    "InboxMessage",
    "NotificationDelivery",
    "NotificationDigest",
    "NotificationPreference",
    "Organisation",
    "OrganisationQualification",
    "OutboxMessage",
    "PanelMember",
    "Programme",
    "ProgrammeKeyTask",
    "ProgrammeTarget",
    "ProgrammeUnit",
    "Project",
    "ProjectPartner",
    "ProjectTag",
    "QuestionnaireResponse",
    "ReportSchedule",
    "Review",
    "ReviewAssignment",
    "ReviewPanel",
    "ReviewRubric",
    "Submission",
    "Tender",
    "UTCDateTime",
    "User",
    "UserRole",
    "table",
    "utcnow",
]
