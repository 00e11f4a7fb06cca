"""Every table of hotline; importing this module registers them all on ``Base.metadata``."""

from hotline.db.base import Base
from hotline.db.models.access import ApiToken, LoginThrottle, WebSession
from hotline.db.models.audit import AuditLog
from hotline.db.models.calls import Call, CallLeg
from hotline.db.models.outbound import OutboundTask
from hotline.db.models.people import Agent, BlacklistEntry, Customer, User
from hotline.db.models.recordings import Recording
from hotline.db.models.reports import Digest
from hotline.db.models.service import CallNote, Case, Complaint, ReturnVisit

__all__ = [
    "Agent",
    "ApiToken",
    "AuditLog",
    "Base",
    "BlacklistEntry",
    "Call",
    "CallLeg",
    "CallNote",
    "Case",
    "Complaint",
    "Customer",
    "Digest",
    "LoginThrottle",
    "OutboundTask",
    "Recording",
    "ReturnVisit",
    "User",
    "WebSession",
]
