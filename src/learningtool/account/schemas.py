from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class TokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None = Field(
        description="Recorded at most every few minutes, so it may lag a little."
    )
    current: bool = Field(default=False, description="The token of this request.")


class AccountRead(BaseModel):
    id: str
    name: str
    created_at: datetime
    tokens: list[TokenRead]


class TokenIssued(BaseModel):
    token: str = Field(description="The new token, shown this once; the old one is revoked.")
    id: str
    name: str
