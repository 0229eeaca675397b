"""OpenTelemetry for every provider call: GenAI-convention spans and metrics.

The library side (``TelemetryObserver``) uses the OpenTelemetry API only and never installs an
SDK; an application that configured one sees modelwire's calls in it, and one that did not
pays the API's no-op cost. The ``modelwire`` command installs an SDK from the standard
``OTEL_*`` environment variables (``install_from_env``).
"""

from ._content import CAPTURE_ENV, Capture, capture_for
from ._names import GENERATION_1, GENERATION_2, OPT_IN_ENV, Names, names_for
from ._observer import TelemetryObserver, provider_name
from ._setup import install_from_env

__all__ = [
    "CAPTURE_ENV",
    "GENERATION_1",
    "GENERATION_2",
    "OPT_IN_ENV",
    "Capture",
    "Names",
    "TelemetryObserver",
    "capture_for",
    "install_from_env",
    "names_for",
    "provider_name",
]
