"""Every table of hotline; importing this module registers them all on ``Base.metadata``."""

from hotline.db.base import Base
from hotline.db.models.access import ApiToken, LoginThrottle, WebSession
from hotline.db.models.audit import AuditLog
from hotline.db.models.calls import Call, CallLeg
from hotline.db.models.flags import CallFlag, Escalation, EscalationRecipient
from hotline.db.models.outbound import (
    OutboundAttempt,
    OutboundTask,
    ReturnVisitCampaign,
    SchedulerLeader,
    apscheduler_jobs,
)
from hotline.db.models.people import (
    Agent,
    AgentAbsence,
    BlacklistEntry,
    Customer,
    CustomerPurchase,
    User,
)
from hotline.db.models.recordings import Recording
from hotline.db.models.reports import Digest
from hotline.db.models.service import CallNote, Case, Complaint, ReturnVisit

__all__ = [
    "Agent",
    "AgentAbsence",
    "ApiToken",
    "apscheduler_jobs",
    "AuditLog",
    "Base",
    "BlacklistEntry",
    "Call",
    "CallFlag",
    "CallLeg",
    "CallNote",
    "Case",
    "Complaint",
    "Customer",
    "CustomerPurchase",
    "Digest",
    "Escalation",
    "EscalationRecipient",
    "LoginThrottle",
    "OutboundAttempt",
    "OutboundTask",
    "Recording",
    "ReturnVisit",
    "ReturnVisitCampaign",
    "SchedulerLeader",
    "User",
    "WebSession",
]
