"""Who works the hotline (users, agents) and who calls it (customers, blacklist)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline.db.base import Base, Phone, UTCDateTime, e164, enum_column, not_blank
from hotline.domain.enums import AgentState, CustomerTier, Gender, Role


class User(Base):
    __tablename__ = "users"
    __table_args__ = (not_blank("username"), not_blank("password_hash"))

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    # argon2id hash (argon2-cffi); the password itself is never stored.
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=lambda: dt.datetime.now(dt.UTC)
    )

    agent: Mapped[Agent | None] = relationship(back_populates="user", uselist=False)


class Agent(Base):
    """A user who takes calls on a softphone (an Asterisk endpoint)."""

    __tablename__ = "agents"
    __table_args__ = (not_blank("extension"), not_blank("interface"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    extension: Mapped[str] = mapped_column(String(32), unique=True)
    # Asterisk dial interface, e.g. PJSIP/1001.
    interface: Mapped[str] = mapped_column(String(128), unique=True)
    state: Mapped[AgentState] = mapped_column(
        enum_column(AgentState, "state"), default=AgentState.LOGGED_OUT
    )
    pause_reason: Mapped[str | None] = mapped_column(String(64))
    state_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Softphones in auto-answer mode get a SIP auto-answer header when offered a call.
    auto_answer: Mapped[bool] = mapped_column(Boolean, default=False)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_logout_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="agent")


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        e164("phone"),
        CheckConstraint(
            "birthday IS NULL OR birthday > '1900-01-01'", name="birthday_plausible"
        ),
        Index("ix_customers_assigned_agent_id", "assigned_agent_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(Phone, unique=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    gender: Mapped[Gender] = mapped_column(enum_column(Gender, "gender"), default=Gender.UNKNOWN)
    birthday: Mapped[dt.date | None] = mapped_column(Date)
    work_unit: Mapped[str] = mapped_column(String(255), default="")
    card_number: Mapped[str | None] = mapped_column(String(64), unique=True)
    tier: Mapped[CustomerTier] = mapped_column(
        enum_column(CustomerTier, "tier"), default=CustomerTier.POTENTIAL
    )
    is_member: Mapped[bool] = mapped_column(Boolean, default=False)
    is_vip: Mapped[bool] = mapped_column(Boolean, default=False)
    is_key_account: Mapped[bool] = mapped_column(Boolean, default=False)
    department: Mapped[str | None] = mapped_column(String(128))
    assigned_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
    assigned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    notes: Mapped[str] = mapped_column(Text, default="")
    # Rule 5.1: customers marked for follow-up are contacted again at most 48 h after the
    # last contact, which the scheduler updates on every answered outbound call.
    needs_follow_up: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    last_contact_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=lambda: dt.datetime.now(dt.UTC)
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime,
        default=lambda: dt.datetime.now(dt.UTC),
        onupdate=lambda: dt.datetime.now(dt.UTC),
    )

    assigned_agent: Mapped[Agent | None] = relationship()


class BlacklistEntry(Base):
    """A number whose calls are recorded from the start and routed per policy (rule 9.15)."""

    __tablename__ = "blacklist_entries"
    __table_args__ = (e164("phone"), not_blank("reason"))

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(Phone, unique=True)
    reason: Mapped[str] = mapped_column(String(255))
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    added_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=lambda: dt.datetime.now(dt.UTC)
    )


class AgentAbsence(Base):
    """Leave or another planned absence; the agent's follow-ups are handed over before it
    starts (rules 5.1, 8.10)."""

    __tablename__ = "agent_absences"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_agent_absences_agent_starts", "agent_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(128), default="leave")
    # When the scheduler handed this agent's follow-ups to others for this absence.
    handed_over_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=lambda: dt.datetime.now(dt.UTC)
    )


class CustomerPurchase(Base):
    """What a customer spent in one department; ranks the half-monthly top customers (5.16)."""

    __tablename__ = "customer_purchases"
    __table_args__ = (
        not_blank("department"),
        CheckConstraint("amount >= 0", name="amount_nonnegative"),
        Index("ix_customer_purchases_department_at", "department", "purchased_at"),
        Index("ix_customer_purchases_customer_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    department: Mapped[str] = mapped_column(String(128))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    purchased_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
