"""The interface every kind of provider auth implements."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import httpx

from .. import _redact
from ..providers import AuthKind, ProviderInfo

if TYPE_CHECKING:
    from ..registry import Provider

__all__ = ["Credentials", "NoCredentials", "provider_secrets"]

_log = logging.getLogger("modelwire.auth")


def provider_secrets(info: ProviderInfo, env: Mapping[str, str]) -> tuple[str, ...]:
    """Values ``info``'s requests carry besides its credential, which a provider may echo too.

    Every ``query_params`` value (keys travel there: ``?key=``, ``?sig=``; masked in every URL
    shown already), the value of each ``http_headers`` / ``env_http_headers`` entry whose name
    marks a credential (``is_sensitive_header``: the same rule that masks them in reprs and
    logs; ``OpenAI-Organization`` and ``OpenAI-Project`` stay readable in provider messages),
    and the base URL's userinfo: its user, its password and the ``Basic`` token they are sent as.
    """
    sensitive = _redact.is_sensitive_header
    values = list((info.query_params or {}).values())
    values += [v for k, v in (info.http_headers or {}).items() if sensitive(k)]
    values += [
        env.get(variable, "").strip()
        for k, variable in (info.env_http_headers or {}).items()
        if sensitive(k)
    ]
    if info.base_url is not None and "@" in info.base_url:
        try:
            url = httpx.URL(info.base_url)
        except (httpx.InvalidURL, TypeError):
            url = None
        if url is not None and url.userinfo:
            values += [url.username, url.password, _basic_token(url.username, url.password)]
    return tuple(v for v in values if v)


def _basic_token(username: str, password: str) -> str:
    """What ``Authorization: Basic`` carries for a URL's userinfo (RFC 7617, as httpx sends it)."""
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class Credentials:
    """Attaches one provider's credential to requests.

    ``description`` names the credential for error messages ("the environment variable
    OPENAI_API_KEY"); it never contains the secret, and neither does ``repr``.
    """

    kind: AuthKind = AuthKind.NONE
    description: str | None = None
    _provider_secrets: tuple[ProviderInfo, Mapping[str, str]] | None = None
    _userinfo_dropped = False

    async def apply(self, request: httpx.Request) -> None:
        """Add the credential to ``request`` (called again, afresh, for every retry)."""
        self._move_userinfo(request)

    def _move_userinfo(self, request: httpx.Request) -> None:
        """Take a base URL's ``user:password@`` out of ``request.url``; every kind's ``apply``
        ends here.

        Left in the URL, httpx would put it in its own log lines and in the ``request`` its
        exceptions carry, and would send it as ``Authorization: Basic``, silently replacing
        whatever this credential had put there. So: without an ``authorization`` header of
        the credential's own, the userinfo goes out as ``Basic`` (what such a URL means: a
        proxy or a self-hosted server behind basic auth); with one, the credential wins and
        the userinfo is dropped, with one warning.
        """
        url = request.url
        if not url.userinfo:
            return
        request.url = url.copy_with(userinfo=b"")
        if "authorization" not in request.headers:
            request.headers["authorization"] = f"Basic {_basic_token(url.username, url.password)}"
        elif not self._userinfo_dropped:
            self._userinfo_dropped = True
            _log.warning(
                "the base URL's user:password@ is not sent: %s uses the Authorization header",
                self.description or "the credential",
            )

    def base_url(self, provider: Provider) -> str:
        """Where this provider's requests go with this credential: ``provider.base_url``.

        OpenAI sign-in state overrides it (a ChatGPT sign-in talks to the ChatGPT backend,
        not the API); the transport and the request encoder both ask here, never the provider.
        """
        return provider.base_url

    renewal_name: str | None = None
    """What a renewal of this credential is called in telemetry (``modelwire.auth.command``
    for command runs, ``modelwire.auth.refresh`` for sign-in refreshes); None: never renews."""

    def observe_renewals(self, hook: Callable[[float, str], None]) -> None:
        """Have ``hook(duration_s, outcome)`` hear every renewal (a command run, a token
        refresh); ``outcome`` is ``ok``/``refreshed``/``adopted`` or the kind of failure. Kinds
        that never renew ignore it."""

    async def unauthorized(self) -> bool:
        """The provider answered 401/403: renew the credential if this kind can.

        Returns whether a retry with renewed credentials is worth making; key kinds cannot
        renew, so they say no and the 401 surfaces as ``AuthError``.
        """
        return False

    def secret_values(self) -> tuple[str, ...]:
        """Every credential value this object holds now (keys, tokens, signing secrets).

        Used only to mask them out of text shown to people; each kind that holds a secret
        overrides it (adding this base's values: the provider's, see ``mask_provider``), and
        one that renews returns the current and previous values.
        """
        if self._provider_secrets is None:
            return ()
        return provider_secrets(*self._provider_secrets)

    def mask_provider(self, info: ProviderInfo, env: Mapping[str, str]) -> None:
        """Mask ``info``'s other request secrets (``provider_secrets``) too, read from ``env``
        each time, as the transport reads its headers: ``credentials_for`` calls this."""
        self._provider_secrets = (info, env)

    def redact(self, text: str, *, truncated: bool = False) -> str:
        """``text`` (provider or command output) with every value this credential holds, and
        every URL's userinfo, masked; ``truncated`` as in ``_redact.mask_values`` (the text is
        a cut-off start of something longer and may end inside a secret)."""
        secrets = self.secret_values()
        if secrets:
            text = _redact.mask_values(text, secrets, truncated=truncated)
        return _redact.mask_urls_in(text)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind.value!r}, credential={self.description!r})"


class NoCredentials(Credentials):
    """Local servers (Ollama, LM Studio) and open endpoints take no credential."""
