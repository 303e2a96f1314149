"""The set of use cases one running AuthService offers, built by `bootstrap`."""

from __future__ import annotations

from dataclasses import dataclass

from authsvc.service.account import AccountService
from authsvc.service.api_keys import ApiKeyService
from authsvc.service.audit_trail import AuditTrailService
from authsvc.service.authenticate import Authenticator
from authsvc.service.invitations import Invitations
from authsvc.service.members import MembersService
from authsvc.service.oauth_tokens import OAuthTokens
from authsvc.service.password_resets import PasswordResets
from authsvc.service.public_keys import PublicKeys
from authsvc.service.revocation_watch import RevocationWatch
from authsvc.service.sessions import SessionService
from authsvc.service.users import UserService
from authsvc.service.workspace_settings import WorkspaceSettingsService


@dataclass(frozen=True)
class Services:
    sessions: SessionService
    authenticator: Authenticator
    api_keys: ApiKeyService
    workspace_settings: WorkspaceSettingsService
    users: UserService
    public_keys: PublicKeys
    revocations: RevocationWatch
    oauth_tokens: OAuthTokens
    account: AccountService
    password_resets: PasswordResets
    audit_trail: AuditTrailService
    members: MembersService
    invitations: Invitations
