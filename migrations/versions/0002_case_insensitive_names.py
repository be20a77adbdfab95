"""Usernames and role names unique whatever their case.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("uq_user_username_lower", "user", [sa.text("lower(username)")], unique=True)
    op.create_index("uq_role_name_lower", "role", [sa.text("lower(name)")], unique=True)


def downgrade() -> None:
    op.drop_index("uq_role_name_lower", table_name="role")
    op.drop_index("uq_user_username_lower", table_name="user")
