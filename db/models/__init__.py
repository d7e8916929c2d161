"""SQLAlchemy 2.x tables, grouped by domain; every table shares one metadata (``Base``).

Import models from here (``from grantflow.db.models import Project``); the modules say which
domain a table belongs to. Alembic sees every table because this package imports them all.
"""

from grantflow.db.models.adjustments import Adjustment
from grantflow.db.models.audit import AuditEvent, AuditHead, OutboxMessage
from grantflow.db.models.base import ID, NAMING, Base, UTCDateTime, table, utcnow
from grantflow.db.models.deadlines import DueItem, ReportSchedule
from grantflow.db.models.evaluation import (
    EvaluationAssignment,
    EvaluationResult,
    EvaluationScore,
    EvaluatorQualification,
)
from grantflow.db.models.forms import Attachment, FormDraft, QuestionnaireResponse, Submission
from grantflow.db.models.funding import BudgetLine, Spending
from grantflow.db.models.notifications import (
    InboxMessage,
    NotificationDelivery,
    NotificationDigest,
    NotificationPreference,
)
from grantflow.db.models.people import Organisation, OrganisationQualification, User, UserRole
from grantflow.db.models.programmes import (
    Call,
    CodeCounter,
    Programme,
    ProgrammeKeyTask,
    ProgrammeUnit,
    Project,
    ProjectPartner,
    ProjectTag,
)
from grantflow.db.models.publications import Publication, PublicationDocument, PublicationSubmission, StReportCheck
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
from grantflow.db.models.security import CalendarToken, SiteFlag, ThrottleEvent, WebSession
from grantflow.db.models.targets import Target, TargetResult
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
    "BudgetLine",
    "CalendarToken",
    "Call",
    "CodeCounter",
    "Complaint",
    "ConflictStatement",
    "CriterionScore",
    "DueItem",
    "EvaluationAssignment",
    "EvaluationResult",
    "EvaluationScore",
    "EvaluatorQualification",
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
    "ProgrammeUnit",
    "Project",
    "ProjectPartner",
    "ProjectTag",
    "Publication",
    "PublicationDocument",
    "PublicationSubmission",
    "QuestionnaireResponse",
    "ReportSchedule",
    "Review",
    "ReviewAssignment",
    "ReviewPanel",
    "ReviewRubric",
    "SiteFlag",
    "Spending",
    "StReportCheck",
    "Submission",
    "Target",
    "TargetResult",
    "Tender",
    "ThrottleEvent",
    "UTCDateTime",
    "User",
    "UserRole",
    "WebSession",
    "table",
    "utcnow",
]
