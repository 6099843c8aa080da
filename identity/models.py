"""SQL tables of identity: accounts, browser sessions and API tokens (SQLAlchemy 2).

Session and token secrets are never stored: only their SHA-256, so a copy of the database lets nobody in.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sharpeyes.schema import utcnow
from sharpeyes.sqltypes import UtcDateTime


class IdentityBase(DeclarativeBase):
    pass


class User(IdentityBase):
    """An account: a person with a role bound to a jurisdiction node (and its subtree)."""

    __tablename__ = "users"

    login: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    unit: Mapped[str] = mapped_column(String(100), default="")  # 单位
    role: Mapped[str] = mapped_column(String(20))
    jurisdiction: Mapped[str] = mapped_column(String(20), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id, PHC string
    weak_password: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class UserSession(IdentityBase):
    """A browser session (cookie) or an OAuth2 bearer access token, stored hashed, with an expiry."""

    __tablename__ = "user_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    login: Mapped[str] = mapped_column(ForeignKey("users.login", ondelete="CASCADE"), index=True)
    csrf_sha256: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ApiToken(IdentityBase):
    """A machine client's token (another center's software, a WVP bridge): role and jurisdiction of its own."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    unit: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(20))
    jurisdiction: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
