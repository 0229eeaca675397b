"""Provider credentials: resolved once per provider, attached to each request.

Every kind of auth is a ``Credentials`` object with one job — put its credential on an outgoing
``httpx.Request`` — and one recovery hook for a 401. The transport never knows which kind it
holds, so the command-token cache, SigV4 signing and OpenAI sign-in state slot in beside the
key kinds here without touching it.
"""

from ._base import Credentials, NoCredentials
from ._keys import HeaderCredentials
from ._resolve import credentials_for

__all__ = ["Credentials", "HeaderCredentials", "NoCredentials", "credentials_for"]
